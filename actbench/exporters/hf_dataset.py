"""A Hugging Face ``datasets`` folder: ``data/test-00000-of-00001.parquet`` and a ``README.md`` dataset card.

The folder loads with ``datasets.load_dataset(DIR)`` (the card's YAML ``configs`` names the parquet
file as the ``test`` split) or with pyarrow alone, and can be pushed to the hub as it is. The parquet
holds every field of ``questions.jsonl`` with an explicit schema: the standard ones as columns and any
others (e.g. ``skipped`` distractors) as one JSON text column ``extra``, so nothing is lost. The card
states the licence of the source annotations (:mod:`actbench.exporters.licences`), the benchmark's
hashes and how it was built (source, K, options, seed, inputs, from the manifest). Same benchmark,
same bytes: no timestamps, zstd compression, one row group.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from actbench.exporters import ExportFormat, ExportOptions, benchmark_provenance
from actbench.exporters.licences import licence_of
from actbench.mqa_builder.benchmark_dir import Benchmark, question_to_json
from actbench.records import LETTERS

PARQUET = "data/test-00000-of-00001.parquet"
CARD = "README.md"
STANDARD = ("id", "video_id", "start", "end", "question", "options", "answer_index", "answer_letter",
            "option_classes", "source_ranks")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def arrow_schema():
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()), ("video_id", pa.string()), ("start", pa.float64()), ("end", pa.float64()),
        ("question", pa.string()), ("options", pa.list_(pa.string())), ("answer_index", pa.int64()),
        ("answer_letter", pa.string()), ("option_classes", pa.list_(pa.string())),
        ("source_ranks", pa.list_(pa.int64())), ("extra", pa.string()),
    ])


def arrow_table(bench: Benchmark):
    """The questions as a pyarrow table; ``extra`` is the JSON of the fields beyond the standard ones."""
    import pyarrow as pa

    records = [question_to_json(q) for q in bench.questions]
    columns: dict[str, list[Any]] = {key: [r[key] for r in records] for key in STANDARD}
    columns["extra"] = [_ENCODER.encode({k: v for k, v in r.items() if k not in STANDARD}) for r in records]
    provenance = {"benchmark": benchmark_provenance(bench)}
    schema = arrow_schema().with_metadata({"actbench": _ENCODER.encode(provenance)})
    return pa.table(columns, schema=schema)


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _changes(p: dict[str, Any]) -> str:
    text = "narrations" if p["options"] == "narration" else "class names"
    if p["two_stage"]:
        picked = f"the top-{p['k']} actions of the `{p['source']}` source (the true action may be missing)"
    else:
        picked = f"the true action and distractor actions chosen by the `{p['source']}` source"
    return (f"actbench turned each annotated segment into a question whose options are {picked}, written as "
            f"the annotations' {text}, in a seeded random order.")


def card(bench: Benchmark) -> str:
    """The dataset card: YAML front matter for the hub, then what it is, its licence and how it was built."""
    p = benchmark_provenance(bench)
    lic = licence_of(p["dataset"])
    q = json.dumps  # JSON strings are valid YAML double-quoted scalars
    n_options = sorted({len(x.options) for x in bench.questions})
    letters = f"A-{LETTERS[n_options[-1] - 1]}"
    keyed = sum(x.answer_letter is not None for x in bench.questions)
    inputs = "\n".join(f"| `{i['name']}` | `{i['sha256']}` |" for i in p["inputs"])
    source_args = _ENCODER.encode(p["source_args"])
    return f"""---
license: {lic.hf_id}
pretty_name: {q(p["name"])}
language:
- en
task_categories:
- multiple-choice
- video-classification
tags:
- actbench
- action-recognition
- {p["dataset"]}
size_categories:
- {_size_category(p["questions"])}
configs:
- config_name: default
  data_files:
  - split: test
    path: {PARQUET}
---

# {p["name"]}

A multiple-choice action-recognition benchmark built by actbench {p["actbench_version"]} from the
{p["dataset"]} annotations ({p["split"]} split): {p["questions"]} questions with {", ".join(map(str, n_options))}
options each (letters {letters}); {keyed} of them have the correct action among their options. Each row names
the video (`video_id`) and the action segment (`start`, `end`, seconds); the videos are not included.

## Licence of the source annotations

Licence: **{lic.name}**{f" ({lic.url})" if lic.url else ""}.

{lic.terms}

Origin: {lic.origin}. Credit: {lic.credit}.

Changes made: {_changes(p)}

## Benchmark identity

| | |
|---|---|
| `questions.jsonl` sha256 | `{p["questions_sha256"]}` |
| `manifest.json` sha256 | `{p["manifest_sha256"]}` |

The parquet file holds the same questions, in the same order, as `questions.jsonl`.

## How it was built

| setting | value |
|---|---|
| source | `{p["source"]}` |
| source arguments | `{source_args}` |
| K (options) | {p["k"]} |
| option text | {p["options"]} |
| two-stage | {str(p["two_stage"]).lower()} |
| seed | {p["seed"]} |
| limit | {p["limit"] if p["limit"] is not None else "none"} |

Input files:

| file | sha256 |
|---|---|
{inputs}

## Fields

| column | type | meaning |
|---|---|---|
| `id` | string | question id (the annotation's narration id) |
| `video_id` | string | video of the segment |
| `start`, `end` | float64 | the segment, in seconds |
| `question` | string | the question stem |
| `options` | list of string | the options, in letter order A, B, ... |
| `answer_index` | int64 (null if the truth is not among the options) | index of the correct option |
| `answer_letter` | string (null likewise) | letter of the correct option |
| `option_classes` | list of string | each option's class as `"verb:noun"` |
| `source_ranks` | list of int64 (null where not ranked) | each option's rank in the source's ranking |
| `extra` | string | JSON of any further fields of the question |

## Use

```python
import datasets
ds = datasets.load_dataset("path/to/this/folder", split="test")
```

A model answers with a letter; accuracy is the share of questions answered with `answer_letter`
(questions without one count as wrong). `actbench run` scores models on the original benchmark directory.
"""


def write(bench: Benchmark, folder: Path, options: ExportOptions) -> list[str]:
    import pyarrow.parquet as pq

    parquet = folder / PARQUET
    parquet.parent.mkdir(parents=True)
    pq.write_table(arrow_table(bench), parquet, compression="zstd", row_group_size=max(len(bench.questions), 1))
    # StagedDirectory syncs the files at the top of the folder only; this one sits in data/.
    with open(parquet, "rb") as handle:
        os.fsync(handle.fileno())
    (folder / CARD).write_text(card(bench), encoding="utf-8")
    return [PARQUET, CARD]


FORMAT = ExportFormat("hf", write)
