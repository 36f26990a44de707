"""A built benchmark on disk: ``manifest.json``, ``questions.jsonl`` and a parquet copy.

The manifest holds everything needed to rebuild the same bytes (source and its arguments, K, option
mode, seed, sha256 of every input) and no timestamps or absolute paths. Loading validates every line
once, at this boundary, so the runner and evaluators can trust the records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from actbench import __version__
from actbench.atomic import StagedDirectory, sha256_bytes, sha256_file
from actbench.errors import ActbenchError
from actbench.model_adapters.multi_answer import check_key
from actbench.records import LETTERS, Question
from actbench.text import normalise

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
QUESTIONS = "questions.jsonl"
QUESTIONS_PARQUET = "questions.parquet"
OWN_FILES = (MANIFEST, QUESTIONS, QUESTIONS_PARQUET)


class InputFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    sha256: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int
    actbench_version: str
    name: str | None = None
    dataset: str
    split: str
    source: str
    source_args: dict[str, Any]
    k: int
    options: str
    two_stage: bool = False
    seed: int
    limit: int | None
    inputs: list[InputFile]
    questions_sha256: str
    counts: dict[str, Any]


def question_to_json(q: Question) -> dict[str, Any]:
    record = {
        "id": q.id, "video_id": q.video_id, "start": q.start, "end": q.end, "question": q.question,
        "options": list(q.options), "answer_index": q.answer_index, "answer_letter": q.answer_letter,
        "option_classes": list(q.option_classes), "source_ranks": list(q.source_ranks),
    }
    record.update(q.extra)
    return record


class _QuestionLine(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: str
    video_id: str
    start: float
    end: float
    question: str
    options: list[str]
    answer_index: int | None
    answer_letter: str | None
    option_classes: list[str]
    source_ranks: list[int | None]


def _question_from_line(line: str, where: str) -> Question:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        raise ActbenchError.bad_value(where, "line", "a JSON object", f"invalid JSON ({error.msg})") from None
    try:
        parsed = _QuestionLine.model_validate(raw)
    except ValidationError as error:
        raise ActbenchError.from_validation(where, error, "line") from None
    n = len(parsed.options)
    if not 2 <= n <= len(LETTERS):
        raise ActbenchError.bad_value(where, "options", "2 to 26 options", n)
    for field in ("option_classes", "source_ranks"):
        if len(getattr(parsed, field)) != n:
            raise ActbenchError.bad_value(where, field, f"{n} entries (one per option)",
                                          f"{len(getattr(parsed, field))} entries")
    if len({normalise(o) for o in parsed.options}) != n:
        raise ActbenchError.bad_value(where, "options", "options that all read differently", parsed.options)
    if not 0 <= parsed.start <= parsed.end:
        raise ActbenchError.bad_value(where, "start", f"0 <= start <= end ({parsed.end})", parsed.start)
    if parsed.answer_index is None:
        if parsed.answer_letter is not None:
            raise ActbenchError.bad_value(where, "answer_letter", "null, as answer_index is null",
                                          parsed.answer_letter)
    else:
        if not 0 <= parsed.answer_index < n:
            raise ActbenchError.bad_value(where, "answer_index", f"an index in [0, {n})", parsed.answer_index)
        if parsed.answer_letter != LETTERS[parsed.answer_index]:
            raise ActbenchError.bad_value(where, "answer_letter", LETTERS[parsed.answer_index], parsed.answer_letter)
    check_key(raw, n, where)  # a multi-label question's answer_indices / answer_letters
    extra = {k: v for k, v in raw.items() if k not in _QuestionLine.model_fields}
    return Question(parsed.id, parsed.video_id, parsed.start, parsed.end, parsed.question,
                    tuple(parsed.options), parsed.answer_index, parsed.answer_letter,
                    tuple(parsed.option_classes), tuple(parsed.source_ranks), extra)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
PARQUET_COLUMNS = ("id", "video_id", "start", "end", "question", "options", "answer_index", "answer_letter",
                   "option_classes", "source_ranks")


def questions_jsonl(records: list[dict[str, Any]]) -> bytes:
    return ("\n".join(_ENCODER.encode(r) for r in records) + "\n").encode("utf-8")


def _questions_parquet(path: Path, records: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({key: [r[key] for r in records] for key in PARQUET_COLUMNS})
    pq.write_table(table, path, compression="zstd")


def write_benchmark(out: Path, manifest_fields: dict[str, Any], questions: list[dict[str, Any]]) -> Manifest:
    """Write the benchmark directory atomically; the manifest gets the questions' hash.

    ``questions`` are the lines of ``questions.jsonl`` as dicts (see :func:`question_to_json`).
    """
    out = Path(out)
    if out.exists():
        # A rebuild replaces the whole folder, so it must hold nothing but a previous build.
        if not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file()):
            raise ActbenchError(f"{out}: exists and is not a benchmark directory; choose another --out")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN_FILES)
        if foreign:
            raise ActbenchError(f"{out}: holds files a rebuild would delete ({', '.join(foreign[:3])}); "
                                "move them or choose another --out")
    body = questions_jsonl(questions)
    manifest = Manifest(schema_version=SCHEMA_VERSION, actbench_version=__version__,
                        questions_sha256=sha256_bytes(body), **manifest_fields)
    with StagedDirectory(out) as staging:
        (staging / QUESTIONS).write_bytes(body)
        _questions_parquet(staging / QUESTIONS_PARQUET, questions)
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class Benchmark:
    path: Path
    manifest: Manifest
    manifest_sha256: str
    questions: tuple[Question, ...]

    @property
    def name(self) -> str:
        return self.manifest.name or self.path.name


def load_benchmark(path: Path) -> Benchmark:
    """Read and validate a benchmark directory."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ActbenchError(f"{path}: not a benchmark directory (no {MANIFEST})")
    raw = manifest_path.read_bytes()
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as error:
        raise ActbenchError.from_validation(manifest_path, error, "manifest") from None
    if manifest.schema_version != SCHEMA_VERSION:
        raise ActbenchError.bad_value(manifest_path, "schema_version", SCHEMA_VERSION, manifest.schema_version)
    questions_path = path / QUESTIONS
    if not questions_path.is_file():
        raise ActbenchError(f"{questions_path}: file not found")
    if sha256_file(questions_path) != manifest.questions_sha256:
        raise ActbenchError.bad_value(questions_path, "sha256", f"{manifest.questions_sha256} (manifest)",
                                      "a different hash: the file was changed after the build")
    questions = []
    seen = set()
    with questions_path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            q = _question_from_line(line, f"{questions_path}:{number}")
            if q.id in seen:
                raise ActbenchError.bad_value(f"{questions_path}:{number}", "id", "unique question ids", q.id)
            seen.add(q.id)
            questions.append(q)
    if not questions:
        raise ActbenchError.bad_value(questions_path, "lines", "at least one question", "an empty file")
    return Benchmark(path, manifest, sha256_bytes(raw), tuple(questions))
