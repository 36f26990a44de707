"""An lmms-eval task folder: ``lmms-eval --include_path DIR --tasks actbench_<name>`` evaluates the benchmark.

lmms-eval (EvolvingLMMs-Lab/lmms-eval, checked against 0.7.3) indexes every ``*.yaml`` under an
``--include_path``; a task YAML with ``dataset_path: json`` loads its ``dataset_kwargs.data_files``
(relative paths are resolved against the YAML's folder) with Hugging Face ``datasets``, and
``!function utils.NAME`` imports ``NAME`` from the ``utils.py`` beside it. Files written:

- ``actbench_<name>.yaml``: the task. Its name is ``actbench_`` + the benchmark's name in lower case with
  runs of other characters turned into ``_``. lmms-eval indexes its own tasks first and never replaces an
  indexed name, so a built-in task of the same name would win: the prefix keeps clear of them.
  ``metadata`` carries the benchmark's name and hashes.
- ``actbench_<name>.jsonl``: one doc per question in benchmark order (lmms-eval's ``doc_id`` is the
  0-based position), with the question's fields, the ``prompt`` actbench's adapters send
  (:func:`actbench.prompts.format_mqa`), the benchmark's ``manifest.json`` sha256, and the media: with a
  frames root, ``frames`` (the N ``rgb_frames`` JPEGs the runner samples, as VLMEvalKit's export lists
  them); without, ``video_path`` relative to the video root (``$ACTBENCH_VIDEO_ROOT`` when set) with the
  segment in ``start`` / ``end`` (lmms-eval's video models are given the whole file).
- ``utils.py``: standard library only. It holds actbench's answer parser, generated from the source of
  :mod:`actbench.model_adapters.answer_parser` (its two actbench imports inlined), so a reply is parsed
  exactly as ``actbench run`` parses it: a reply that names no single option is wrong and counted in
  ``parse_fail``, never replaced by a random letter. Metrics: ``accuracy`` (percent, as actbench reports
  it), ``parse_fail`` and ``refused`` (counts). Each sample's logged metric value is a record with the
  question id and the benchmark hash, which ``actbench import lmms-eval`` checks. It needs Python 3.11 (the
  parser's possessive quantifiers) and opens frames with Pillow, which lmms-eval itself requires.
- ``actbench_<name>.actbench.json``: provenance, hashes of the other files, media and licence.

>>> task_name("EK100-MQA random/300")
'actbench_ek100_mqa_random_300'
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from actbench import __version__
from actbench.atomic import dumps_json, sha256_bytes
from actbench.exporters import ExportFormat, ExportOptions, benchmark_provenance
from actbench.exporters.licences import licence_of
from actbench.exporters.vlmevalkit import RGB_FPS, _checked_video_id, rgb_frame_paths
from actbench.mqa_builder.benchmark_dir import QUESTIONS, Benchmark
from actbench.prompts import format_mqa

SCHEMA_VERSION = 1
PREFIX = "actbench_"
UTILS = "utils.py"
VIDEO_ROOT_ENV = "ACTBENCH_VIDEO_ROOT"
MAX_NEW_TOKENS = 16  # as actbench's local video models generate (hf_video_mllm max_new_tokens)
# lmms-eval's metric names (YAML metric_list, results table, keys of each logged sample).
METRICS = ("accuracy", "parse_fail", "refused")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def task_name(benchmark_name: str) -> str:
    """``actbench_`` + the name in lower case, each run of characters other than ``[a-z0-9]`` as one ``_``."""
    return PREFIX + (re.sub(r"[^a-z0-9]+", "_", benchmark_name.lower()).strip("_") or "benchmark")


# -- utils.py: actbench's answer parser as standard-library source --------------------------------------------

def _body(source: str) -> tuple[str, list[ast.ImportFrom]]:
    """``source`` without its docstring, ``from __future__`` and ``from actbench... import`` statements; and
    those actbench imports."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cut, actbench_imports = set(), []
    for index, node in enumerate(tree.body):
        is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        is_ours = isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "actbench"
        if is_ours:
            actbench_imports.append(node)
        if is_docstring or is_future or is_ours:
            cut.update(range(node.lineno - 1, node.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in cut).strip("\n") + "\n", actbench_imports


def _inlined(node: ast.ImportFrom) -> str:
    """Source defining the names ``node`` imports from actbench: a constant as its value, a function as the
    code of its whole module (which must itself import only the standard library)."""
    import importlib

    module = importlib.import_module(node.module)
    parts = []
    for alias in node.names:
        value = getattr(module, alias.name)
        if isinstance(value, (str, int, float, tuple, frozenset)):
            parts.append(f"{alias.asname or alias.name} = {value!r}\n")
        elif inspect.isfunction(value) and alias.asname is None:
            body, imports = _body(inspect.getsource(module))
            if imports:
                raise RuntimeError(f"{node.module} imports from actbench; it cannot be inlined into {UTILS}")
            parts.append(body)
        else:
            raise RuntimeError(f"cannot inline {node.module}.{alias.name} into {UTILS}")
    return "".join(parts)


def parser_source() -> str:
    """:mod:`actbench.model_adapters.answer_parser` as one standard-library module (its actbench imports
    inlined): the code of ``parse_answer`` and its rules, character for character."""
    from actbench.model_adapters import answer_parser

    body, imports = _body(inspect.getsource(answer_parser))
    inlined = "\n".join(f"# from {node.module} (actbench {__version__})\n{_inlined(node)}" for node in imports)
    return f"{inlined}\n\n# from actbench.model_adapters.answer_parser (actbench {__version__})\n{body}"


_GLUE = '''

# -- lmms-eval task functions ------------------------------------------------------------------------------

MEDIA = {media!r}  # "rgb_frames": doc["frames"] lists JPEG paths; "video": doc["video_path"] is relative
VIDEO_ROOT_ENV = {video_root_env!r}  # the folder doc["video_path"] is relative to (default: the working dir)


def doc_to_visual(doc):
    """The frames as RGB images (Pillow, which lmms-eval itself requires), or the video's path."""
    if MEDIA == "rgb_frames":
        from PIL import Image

        images = []
        for path in doc["frames"]:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        return images
    return [os.path.join(os.environ.get(VIDEO_ROOT_ENV, ""), doc["video_path"])]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    """The prompt actbench's adapters send (the doc's ``prompt``), with optional pre/post prompts."""
    kwargs = lmms_eval_specific_kwargs or {{}}
    return f"{{kwargs.get('pre_prompt', '')}}{{doc['prompt']}}{{kwargs.get('post_prompt', '')}}"


def doc_to_target(doc):
    return doc["answer_letter"] or ""


def process_results(doc, results):
    """actbench's parse of the reply; unparseable or refused replies are wrong (no random letter)."""
    reply = results[0] if results and isinstance(results[0], str) else ""
    parsed = parse_answer(reply, doc["options"])
    key = doc["answer_letter"]
    record = {{"id": doc["id"], "benchmark": doc["benchmark"], "benchmark_sha256": doc["benchmark_sha256"],
              "answer": parsed.letter, "status": parsed.status, "how": parsed.how,
              "correct": parsed.status == "ok" and key is not None and parsed.letter == key}}
    return {{name: record for name in {metrics!r}}}


def aggregate_accuracy(records):
    """Percent of questions answered with the key's letter (as actbench's metrics.json)."""
    return 100.0 * sum(bool(r["correct"]) for r in records) / len(records) if records else float("nan")


def aggregate_parse_fail(records):
    return sum(r["status"] == "parse_fail" for r in records)


def aggregate_refused(records):
    return sum(r["status"] == "refused" for r in records)
'''


def utils_source(bench: Benchmark, media: str) -> str:
    """The whole ``utils.py``. No ``from __future__ import annotations``: lmms-eval executes the file as a
    module it does not put in ``sys.modules``, where ``dataclasses`` cannot resolve string annotations."""
    header = (f'"""lmms-eval task functions for the actbench benchmark {bench.name!r} (manifest sha256 '
              f'{bench.manifest_sha256}).\n\nGenerated by actbench {__version__} (`actbench export --format '
              'lmms-eval`); standard library only. The answer parser below is actbench\'s own code.\n"""\n\n'
              "import os\nimport sys\n\n"
              # The parser's regular expressions use possessive quantifiers (Python 3.11, as actbench).
              "if sys.version_info < (3, 11):\n"
              "    raise ImportError('this lmms-eval task needs Python 3.11 or newer (as actbench)')\n\n")
    source = header + parser_source() + _GLUE.format(media=media, video_root_env=VIDEO_ROOT_ENV,
                                                     metrics=METRICS)
    _check_stdlib_only(source)
    return source


def _check_stdlib_only(source: str) -> None:
    """A parser change that pulls in a non-standard import must fail the export, not lmms-eval later. Inside
    a function only, Pillow may be imported: lmms-eval requires it, and only frames need it."""
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and (top != "PIL" or id(node) in top_level):
                raise RuntimeError(f"{UTILS} would import {name}, which is not in the standard library")


# -- the docs, the YAML, the sidecar ----------------------------------------------------------------------------

def docs(bench: Benchmark, options: ExportOptions) -> list[dict[str, Any]]:
    """One lmms-eval doc per question, in benchmark order (lmms-eval's doc_id is the position)."""
    root = Path(options.frames_root).as_posix() if options.frames_root is not None else None
    out = []
    for q in bench.questions:
        video_id = _checked_video_id(q.video_id, f"{bench.path / QUESTIONS} (question {q.id})")
        doc: dict[str, Any] = {
            "id": q.id, "video_id": video_id, "start": q.start, "end": q.end, "question": q.question,
            "options": list(q.options), "answer_index": q.answer_index, "answer_letter": q.answer_letter,
            "option_classes": list(q.option_classes), "source_ranks": list(q.source_ranks),
            "prompt": format_mqa(q.question, q.options),
        }
        if root is not None:
            doc["frames"] = [f"{root}/{p}" for p in rgb_frame_paths(video_id, q.start, q.end, options.n_frames)]
        else:
            doc["video_path"] = f"{video_id.split('_', 1)[0]}/videos/{video_id}.MP4"
        doc["benchmark"] = bench.name
        doc["benchmark_sha256"] = bench.manifest_sha256
        out.append(doc)
    return out


def task_yaml(bench: Benchmark, name: str, data_file: str, media: str) -> str:
    q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
    metric_lines = "".join(f"  - metric: {m}\n    aggregation: !function utils.aggregate_{m}\n"
                           f"    higher_is_better: {'true' if m == 'accuracy' else 'false'}\n" for m in METRICS)
    return f"""# lmms-eval task for the actbench benchmark {q(bench.name)}, generated by actbench {__version__}
# (`actbench export --format lmms-eval`). Run: lmms-eval --include_path THIS_FOLDER --tasks {name} ...
# lmms-eval's own tasks win a name clash; the actbench_ prefix keeps clear of them.
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data_file}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: !function utils.doc_to_target
generation_kwargs:
  max_new_tokens: {MAX_NEW_TOKENS}
  temperature: 0
  top_p: 1.0
  num_beams: 1
  do_sample: false
process_results: !function utils.process_results
metric_list:
{metric_lines}lmms_eval_specific_kwargs:
  default:
    pre_prompt: ""
    post_prompt: ""
metadata:
  version: {SCHEMA_VERSION}
  actbench_version: {q(__version__)}
  benchmark: {q(bench.name)}
  manifest_sha256: {q(bench.manifest_sha256)}
  questions_sha256: {q(bench.manifest.questions_sha256)}
  media: {media}
"""


def _media(options: ExportOptions) -> dict[str, Any]:
    from actbench.model_adapters.video import FRAME_CHOICE, TIME_CONVENTION

    if options.frames_root is None:
        return {"layout": "video", "field": "video_path", "pattern": "<participant>/videos/<video_id>.MP4",
                "relative_to": f"${VIDEO_ROOT_ENV} (the EPIC-KITCHENS video root), else the working directory",
                "segment": "start and end, seconds (lmms-eval video models are given the whole file)"}
    return {"layout": "rgb_frames", "field": "frames", "root": Path(options.frames_root).as_posix(),
            "pattern": "<root>/<participant>/rgb_frames/<video_id>/frame_<k:010d>.jpg",
            "n_frames": options.n_frames, "fps": RGB_FPS, "time_convention": TIME_CONVENTION,
            "frame_choice": FRAME_CHOICE}


def write(bench: Benchmark, folder: Path, options: ExportOptions) -> list[str]:
    name = task_name(bench.name)
    media = "video" if options.frames_root is None else "rgb_frames"
    yaml_name, data_name, sidecar_name = f"{name}.yaml", f"{name}.jsonl", f"{name}.actbench.json"
    body = ("\n".join(_ENCODER.encode(d) for d in docs(bench, options)) + "\n").encode("utf-8")
    utils = utils_source(bench, media).encode("utf-8")
    config = task_yaml(bench, name, data_name, media).encode("utf-8")
    licence = licence_of(bench.manifest.dataset)
    sidecar = {
        "schema_version": SCHEMA_VERSION,
        "format": "lmms-eval-task",
        "task": name,
        "benchmark": benchmark_provenance(bench),
        "files": {n: sha256_bytes(b) for n, b in ((yaml_name, config), (data_name, body), (UTILS, utils))},
        "docs": {"file": data_name, "rows": len(bench.questions),
                 "doc_id": "0-based position of the question in questions.jsonl; field id is the question id"},
        "media": _media(options),
        "metrics": {"accuracy": "percent answered with the key's letter", "parse_fail": "count", "refused": "count"},
        "licence": {"id": licence.hf_id, "name": licence.name, "url": licence.url, "terms": licence.terms,
                    "origin": licence.origin, "credit": licence.credit},
        "use": f"lmms-eval --include_path DIR --tasks {name} --log_samples --output_path OUT ...; then "
               "actbench import lmms-eval OUT/<model>/<date>_samples_" + name + ".jsonl",
    }
    (folder / yaml_name).write_bytes(config)
    (folder / data_name).write_bytes(body)
    (folder / UTILS).write_bytes(utils)
    (folder / sidecar_name).write_text(dumps_json(sidecar), encoding="utf-8")
    return [yaml_name, data_name, UTILS, sidecar_name]


FORMAT = ExportFormat("lmms-eval", write, takes_frames=True)
