"""``actbench import lmms-eval SAMPLES.jsonl``: lmms-eval's logged samples as an actbench run directory.

The input is what ``lmms-eval --log_samples --output_path OUT`` writes for a task exported by
``actbench export --format lmms-eval`` (:mod:`actbench.exporters.lmms_eval`):
``OUT/[<model>/]<date>_samples_<task>.jsonl``, one JSON object per doc with ``doc_id`` (the question's
position in the benchmark), ``filtered_resps`` (the reply the task scored) and, under each metric name,
the record the task's ``process_results`` wrote: the question ``id``, the ``benchmark`` name and its
``benchmark_sha256`` (the manifest's hash). The ``<date>_results.json`` beside it, when present, gives the
model (``config.model``, ``model_name``, ``config.model_args``), lmms-eval's version and the run's time.

Every reply is parsed again with :func:`~actbench.model_adapters.answer_parser.parse_answer`, so the run is
scored exactly as ``actbench run`` would score the same replies (``metrics.json`` comes from the runner's
:func:`~actbench.runner.run_metrics`); ``metrics.json`` also counts the docs whose record from lmms-eval
disagrees with that parse (an export made by another actbench version). The run directory (default
``results/runs/<benchmark>/lmms-eval-<model>``) holds ``run.json`` with model ``lmms-eval:<model>``,
``predictions.jsonl`` in benchmark order, and ``metrics.json``, written all at once.

Refused with a one-line error naming the file, field, expected and found value, and nothing written: a
line that is not such a sample, samples of two benchmarks, a benchmark whose manifest hash differs from
the samples', a question id the benchmark does not have or at another position than ``doc_id``, a doc
twice, and docs that are not the benchmark's first N questions (``--limit N`` gives a run with limit N).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from actbench import __version__
from actbench.atomic import StagedDirectory, dumps_json, sha256_file
from actbench.errors import ActbenchError
from actbench.exporters.lmms_eval import METRICS
from actbench.journal import answer_to_record
from actbench.model_adapters.answer_parser import parse_answer
from actbench.mqa_builder.benchmark_dir import MANIFEST, Benchmark, load_benchmark
from actbench.records import Answer
from actbench.runner import (
    DEFAULT_RESULTS,
    PREDICTIONS,
    RUN_JSON,
    SCHEMA_VERSION,
    RunInfo,
    resolve_benchmark,
    run_metrics,
)
from actbench.runner import METRICS as METRICS_JSON

RECORD = METRICS[0]  # every metric of the exported task logs the same record; "accuracy" is always there
SAMPLES_INFIX = "_samples_"
# Model arguments that may hold credentials never reach run.json.
_SECRET = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)


@dataclass(frozen=True)
class Sample:
    where: str  # file:line
    doc_id: int
    id: str
    benchmark: str
    benchmark_sha256: str
    reply: str
    logged: dict[str, Any]  # the exported utils.py's record (its parse)
    tokens_in: int
    tokens_out: int


def _reply(value: Any, where: str) -> str:
    """The scored reply: ``filtered_resps`` is the reply itself once lmms-eval flattened it, else a list of one."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ActbenchError.bad_value(where, "filtered_resps", "one reply text per doc (the exported task asks once)",
                                      value)
    return value


def _tokens(value: Any) -> tuple[int, int]:
    counts = value[0] if isinstance(value, list) and value else None
    if not isinstance(counts, dict):
        return 0, 0
    return tuple(v if isinstance(v, int) and v >= 0 else 0  # type: ignore[return-value]
                 for v in (counts.get("input_tokens"), counts.get("output_tokens")))


def _sample(raw: Any, where: str) -> Sample:
    if not isinstance(raw, dict):
        raise ActbenchError.bad_value(where, "line", "a JSON object (one lmms-eval sample)", raw)
    doc_id = raw.get("doc_id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, int) or doc_id < 0:
        raise ActbenchError.bad_value(where, "doc_id", "an integer >= 0", "none" if doc_id is None else doc_id)
    record = raw.get(RECORD)
    fields = ("id", "benchmark", "benchmark_sha256")
    if not isinstance(record, dict) or not all(isinstance(record.get(f), str) and record[f] for f in fields):
        raise ActbenchError.bad_value(where, RECORD, "the record of a task written by `actbench export --format "
                                      "lmms-eval` (id, benchmark, benchmark_sha256)",
                                      "none" if record is None else record)
    if "filtered_resps" not in raw:
        raise ActbenchError.bad_value(where, "filtered_resps", "the reply lmms-eval scored", "none")
    tokens_in, tokens_out = _tokens(raw.get("token_counts"))
    return Sample(where, doc_id, record["id"], record["benchmark"], record["benchmark_sha256"],
                  _reply(raw["filtered_resps"], where), record, tokens_in, tokens_out)


def read_samples(path: Path) -> list[Sample]:
    """Every line of a samples file, checked to be one sample of one exported benchmark."""
    path = Path(path)
    if not path.is_file():
        raise ActbenchError(f"{path}: file not found (the samples file of lmms-eval --log_samples)")
    samples: list[Sample] = []
    seen: dict[int, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as error:
                raise ActbenchError.bad_value(where, "line", "a JSON object", f"invalid JSON ({error.msg})") from None
            sample = _sample(raw, where)
            if samples and sample.benchmark_sha256 != samples[0].benchmark_sha256:
                raise ActbenchError.bad_value(where, f"{RECORD}.benchmark_sha256", f"{samples[0].benchmark_sha256}, "
                                              f"as in {samples[0].where} (one benchmark per file)",
                                              sample.benchmark_sha256)
            if sample.doc_id in seen:
                raise ActbenchError.bad_value(where, "doc_id", f"each doc once ({sample.doc_id} is also at "
                                              f"{seen[sample.doc_id]})", sample.doc_id)
            seen[sample.doc_id] = where
            samples.append(sample)
    if not samples:
        raise ActbenchError.bad_value(path, "lines", "at least one sample", "an empty file")
    return samples


def _benchmark(first: Sample, choice: str | None, results: Path) -> Benchmark:
    """The benchmark the samples answered: ``choice``, else found by its recorded name; the hash must match."""
    if choice is None:
        try:
            path = resolve_benchmark(first.benchmark, results)
        except ActbenchError:
            raise ActbenchError.bad_value(first.where, f"{RECORD}.benchmark", f"a benchmark directory or built card "
                                          f"under {results} (or pass --benchmark DIR)", first.benchmark) from None
    else:
        path = resolve_benchmark(choice, results)
    bench = load_benchmark(path)
    if bench.manifest_sha256 != first.benchmark_sha256:
        raise ActbenchError.bad_value(first.where, f"{RECORD}.benchmark_sha256", f"{bench.manifest_sha256}, the "
                                      f"manifest of {Path(path) / MANIFEST}", first.benchmark_sha256)
    return bench


def _answers(samples: list[Sample], bench: Benchmark, path: Path) -> tuple[dict[str, Answer], int, int]:
    """The answers by question id, the run's limit (None for all questions), and the disagreeing docs."""
    position = {q.id: i for i, q in enumerate(bench.questions)}
    answers: dict[str, Answer] = {}
    disagree = 0
    for s in sorted(samples, key=lambda s: s.doc_id):
        if s.id not in position:
            raise ActbenchError.bad_value(s.where, f"{RECORD}.id", f"a question of benchmark '{bench.name}'", s.id)
        if position[s.id] != s.doc_id:
            raise ActbenchError.bad_value(s.where, "doc_id", f"{position[s.id]}, the position of question {s.id} "
                                          f"in benchmark '{bench.name}'", s.doc_id)
        q = bench.questions[s.doc_id]
        parsed = parse_answer(s.reply, q.options)
        disagree += (s.logged.get("answer"), s.logged.get("status")) != (parsed.letter, parsed.status)
        answers[q.id] = Answer(q.id, parsed.letter, parsed.status, s.reply, 0.0, s.tokens_in, s.tokens_out, 0.0,
                               {"how": parsed.how, "lmms_eval_doc_id": s.doc_id})
    n = len(samples)
    missing = next(i for i in range(n + 1) if i == n or bench.questions[i].id not in answers)
    if missing < n:
        raise ActbenchError.bad_value(path, "doc_id", f"the first {n} questions of benchmark '{bench.name}' (lmms-eval "
                                      "--limit N evaluates a prefix; a run with --offset cannot be imported)",
                                      f"doc {missing} ({bench.questions[missing].id}) missing")
    return answers, (None if n == len(bench.questions) else n), disagree


def _results_json(samples_path: Path) -> tuple[Path | None, dict[str, Any]]:
    """lmms-eval's ``<date>_results.json`` beside ``<date>_samples_<task>.jsonl``, if it is there."""
    date, infix, _ = samples_path.name.partition(SAMPLES_INFIX)
    path = samples_path.with_name(f"{date}_results.json")
    if not infix or not path.is_file():
        return None, {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ActbenchError.bad_value(path, "file", "lmms-eval's results JSON", f"invalid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ActbenchError.bad_value(path, "file", "lmms-eval's results JSON (an object)", data)
    return path, data


def _model_args(value: Any) -> dict[str, Any]:
    """lmms-eval's ``--model_args`` (``k=v,k=v`` or a dict), without arguments that may hold credentials."""
    if isinstance(value, dict):
        args = dict(value)
    elif isinstance(value, str) and value:
        pairs = [part.split("=", 1) for part in value.split(",") if part]
        args = dict(pairs) if all(len(p) == 2 for p in pairs) else {"model_args": value}  # type: ignore[arg-type]
    else:
        args = {}
    return {k: v for k, v in args.items() if not _SECRET.search(str(k))}


def _model(data: dict[str, Any], override: str | None, samples_path: Path) -> tuple[str, dict[str, Any]]:
    """The model's name (``--model``, else lmms-eval's ``model_name``, else ``config.model``) and arguments."""
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    backend = config.get("model")
    args = _model_args(config.get("model_args"))
    if isinstance(backend, str) and backend:
        args = {"lmms_eval_model": backend, **args}
    name = override or data.get("model_name") or backend
    if not isinstance(name, str) or not name.strip():
        raise ActbenchError.bad_value(samples_path, "model", "the model's name: pass --model NAME (no "
                                      "<date>_results.json from lmms-eval beside the samples file)", "none")
    return name.strip(), args


def _times(data: dict[str, Any], samples_path: Path) -> tuple[str, str, float]:
    """(started_at, finished_at, wall seconds): lmms-eval's ``date`` (its local time) and evaluation time, else
    the samples file's modification time."""
    try:
        wall = max(float(data.get("total_evaluation_time_seconds") or 0.0), 0.0)
    except (TypeError, ValueError):
        wall = 0.0
    try:
        start = datetime.strptime(str(data["date"]), "%Y%m%d_%H%M%S")
    except (KeyError, ValueError):
        start = datetime.fromtimestamp(samples_path.stat().st_mtime, UTC).replace(microsecond=0)
        return start.isoformat(), start.isoformat(), wall
    return start.isoformat(), (start + timedelta(seconds=round(wall))).isoformat(), wall


def default_out(results: Path, benchmark: str, model: str) -> Path:
    """``results/runs/<benchmark>/lmms-eval-<model>`` (the model's name with ``/`` and other separators as ``_``)."""
    return Path(results) / "runs" / benchmark / ("lmms-eval-" + re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._"))


def import_lmms_eval(samples: Path, *, benchmark: str | None = None, results: Path = DEFAULT_RESULTS,
                     out: Path | None = None, model: str | None = None) -> Path:
    """Write the run directory of an lmms-eval samples file (see the module's docstring); returns it."""
    samples = Path(samples)
    parsed = read_samples(samples)
    bench = _benchmark(parsed[0], benchmark, Path(results))
    answers, limit, disagree = _answers(parsed, bench, samples)
    results_path, data = _results_json(samples)
    name, args = _model(data, model, samples)
    out = Path(out) if out is not None else default_out(Path(results), bench.name, name)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ActbenchError(f"{out}: exists and is not an empty directory; choose another --out")
    started, finished, wall = _times(data, samples)
    version = data.get("lmms_eval_version")
    info = RunInfo(schema_version=SCHEMA_VERSION, actbench_version=__version__,
                   model={"name": f"lmms-eval:{name}", "args": args},
                   benchmark={"name": bench.name, "manifest_sha256": bench.manifest_sha256,
                              "questions": len(bench.questions)},
                   seed=0, limit=limit, versions={"lmms_eval": str(version) if version else "unknown"},
                   started_at=started, finished_at=finished, status="complete")
    questions = list(bench.questions[:limit] if limit else bench.questions)
    metrics = run_metrics(info, bench.name, questions, questions, answers, None, wall_s=wall, answered_now=0)
    metrics["imported"] = {
        "tool": "lmms-eval", "samples": str(samples), "samples_sha256": sha256_file(samples),
        "results": None if results_path is None else str(results_path),
        "task": samples.name.partition(SAMPLES_INFIX)[2].removesuffix(".jsonl") or None,
        "latency": "not recorded per sample by lmms-eval (latency_s is 0)",
        "parse_disagreements": disagree,
    }
    lines = "".join(json.dumps(answer_to_record(answers[q.id]), ensure_ascii=False, allow_nan=False) + "\n"
                    for q in questions)
    with StagedDirectory(out) as staging:
        (staging / PREDICTIONS).write_bytes(lines.encode("utf-8"))
        (staging / METRICS_JSON).write_bytes(dumps_json(metrics).encode("utf-8"))
        (staging / RUN_JSON).write_bytes((info.model_dump_json(indent=2) + "\n").encode("utf-8"))
    return out
