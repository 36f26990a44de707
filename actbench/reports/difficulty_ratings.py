"""Difficulty ratings of a benchmark's questions, stored beside it, and the run that makes them.

Files: ``BENCH_DIR/../<name>-difficulty/<rater-id>.jsonl`` (one line per question: ``id``, ``level`` 1-4 or
null, ``status`` and what the rater saw) and ``<rater-id>.json`` (the rater's name and arguments, the
benchmark's name and manifest hash, the status and the counts per level). They sit beside the benchmark,
not inside it, as a rebuild refuses files it did not write (as the audit's do). Ratings are tied to the
benchmark's manifest hash: loading them for another build is refused.

The LLM rater journals each batch as the runner does (journal.py): a killed or interrupted rating loses
nothing finished, and the same command resumes it; the embedding rater is cheap and deterministic and
writes both files atomically at the end. A second rating under the same rater id must use the same
rater arguments and benchmark (``replace=True`` starts over); arguments that change only how a run goes
(an API model's concurrency, timeouts, budget) may change between sessions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from actbench import __version__
from actbench.atomic import atomic_write_text
from actbench.errors import ActbenchError
from actbench.journal import Journal
from actbench.mqa_builder.benchmark_dir import Benchmark, load_benchmark
from actbench.records import NOT_SENT, Question
from actbench.reports import difficulty_raters as raters
from actbench.runner import DEFAULT_RESULTS, resolve_benchmark

SCHEMA_VERSION = 1
RATERS = ("llm", "embedding")


def ratings_dir(bench_dir: Path) -> Path:
    """``BENCH_DIR/../<name>-difficulty``: beside the benchmark."""
    bench_dir = Path(bench_dir)
    return bench_dir.parent / f"{bench_dir.name}-difficulty"


class RatingsMeta(BaseModel):
    """``<rater-id>.json``."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int
    actbench_version: str
    rater: Literal["llm", "embedding"]
    rater_id: str
    args: dict[str, Any]
    benchmark: dict[str, Any]
    status: Literal["running", "interrupted", "stopped", "failed", "complete"]
    counts: dict[str, int] = {}
    cost_usd: float = 0.0


class _RatingLine(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    id: str
    level: int | None
    status: Literal["ok", "parse_fail", "refused", "error", "no_answer"]


@dataclass(frozen=True)
class Ratings:
    path: Path  # the meta file
    meta: RatingsMeta
    levels: dict[str, int | None] = field(repr=False)  # per question id; None: not rated (see status)

    def level_array(self, questions: list[Question] | tuple[Question, ...]) -> np.ndarray:
        """Per question its level, 0 where it has none."""
        return np.array([self.levels.get(q.id) or 0 for q in questions], dtype=np.int64)


def _paths(bench_dir: Path, rid: str) -> tuple[Path, Path]:
    folder = ratings_dir(bench_dir)
    return folder / f"{rid}.json", folder / f"{rid}.jsonl"


def _read_meta(path: Path) -> RatingsMeta:
    try:
        return RatingsMeta.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise ActbenchError.from_validation(path, error, "ratings metadata") from None


def _check_benchmark(path: Path, meta: RatingsMeta, bench: Benchmark) -> None:
    recorded = meta.benchmark.get("manifest_sha256")
    if recorded != bench.manifest_sha256:
        raise ActbenchError.bad_value(path, "benchmark.manifest_sha256", f"{bench.manifest_sha256} (the manifest "
                                      f"of {bench.path}; rate this build again with --replace)", recorded)


def _read_lines(journal: Journal, bench: Benchmark) -> dict[str, dict]:
    known = {q.id for q in bench.questions}
    records: dict[str, dict] = {}
    for number, raw in enumerate(journal.read(), start=1):
        where = f"{journal.path}:{number}"
        try:
            line = _RatingLine.model_validate(raw)
        except ValidationError as error:
            raise ActbenchError.from_validation(where, error, "rating") from None
        if line.id not in known:
            raise ActbenchError.bad_value(where, "id", "a question of the benchmark", line.id)
        if line.id in records:
            raise ActbenchError.bad_value(where, "id", "each question rated once", f"{line.id} twice")
        if (line.status == "ok") != (line.level in raters.LEVELS):
            raise ActbenchError.bad_value(where, "level", "1 to 4 when the status is ok, else null", line.level)
        records[line.id] = raw
    return records


def load_ratings(bench: Benchmark, meta_path: Path) -> Ratings:
    """The ratings described by ``meta_path``, checked against ``bench``'s manifest hash and questions."""
    meta_path = Path(meta_path)
    if not meta_path.is_file():
        raise ActbenchError(f"{meta_path}: file not found")
    meta = _read_meta(meta_path)
    _check_benchmark(meta_path, meta, bench)
    records = _read_lines(Journal(meta_path.with_suffix(".jsonl")), bench)
    return Ratings(meta_path, meta, {qid: r["level"] for qid, r in records.items()})


def find_ratings(bench: Benchmark) -> list[Ratings]:
    """Every complete rating of ``bench`` (by rater id); unfinished ones are left out."""
    folder = ratings_dir(bench.path)
    metas = sorted(folder.glob("*.json")) if folder.is_dir() else []
    found = [load_ratings(bench, path) for path in metas]
    return [r for r in found if r.meta.status == "complete"]


def _counts(records: dict[str, dict]) -> dict[str, int]:
    tally = Counter(str(r["level"]) if r["status"] == "ok" else r["status"] for r in records.values())
    keys = [str(level) for level in raters.LEVELS] + list(raters.RATING_STATUSES[1:])
    return {key: tally.get(key, 0) for key in keys}


def _save(path: Path, meta: RatingsMeta) -> None:
    atomic_write_text(path, meta.model_dump_json(indent=2) + "\n")


@dataclass(frozen=True)
class RatingSpec:
    benchmark: str
    rater: str = "embedding"
    model: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    prompt: str = "paper"  # llm only: paper | letters (difficulty_raters.py)
    seed: int = 0
    replace: bool = False  # start over instead of resuming (or refusing other arguments)
    data_dir: Path | None = None
    results: Path = DEFAULT_RESULTS


def _validate(spec: RatingSpec) -> None:
    if spec.rater not in RATERS:
        raise ActbenchError.bad_value("--rater", "rater", " or ".join(RATERS), spec.rater)
    if spec.rater == "llm" and not spec.model:
        raise ActbenchError.bad_value("--model", "model", "a model to rate with (see `actbench list`)", "none")
    if spec.rater == "embedding" and (spec.model or spec.model_args):
        raise ActbenchError.bad_value("--model", "model", "no model for the embedding rater", spec.model or "")
    if spec.prompt not in raters.PROMPT_STYLES:
        raise ActbenchError.bad_value("--prompt", "prompt", " or ".join(raters.PROMPT_STYLES), spec.prompt)
    if spec.seed < 0:
        raise ActbenchError.bad_value("--seed", "seed", "a non-negative integer", spec.seed)


def _start(meta_path: Path, journal_path: Path, fresh: RatingsMeta, bench: Benchmark,
           runtime: frozenset[str]) -> RatingsMeta:
    """The metadata to go on with: a new one, or the recorded one when the rater and benchmark match."""
    if not meta_path.exists():
        if journal_path.exists():
            raise ActbenchError(f"{journal_path}: ratings without their {meta_path.name}; pass --replace to rate again")
        return fresh
    meta = _read_meta(meta_path)
    _check_benchmark(meta_path, meta, bench)

    def stable(args: dict[str, Any]) -> dict[str, Any]:
        model = args.get("model")
        if not isinstance(model, dict) or "args" not in model:
            return args
        return {**args, "model": {**model, "args": {k: v for k, v in model["args"].items() if k not in runtime}}}

    if stable(meta.args) != stable(fresh.args):
        raise ActbenchError.bad_value(meta_path, "args", f"{stable(fresh.args)} (this invocation; pass --replace "
                                      "to rate again)", stable(meta.args))
    return meta.model_copy(update={"args": fresh.args, "status": "running"})


def rate(spec: RatingSpec, *, progress: Callable[[int, int], None] | None = None) -> Ratings:
    """Rate every question of the benchmark not yet rated; returns the finished ratings."""
    _validate(spec)
    bench = load_benchmark(resolve_benchmark(spec.benchmark, spec.results))
    rid = raters.rater_id(spec.rater, spec.model, spec.prompt)
    meta_path, journal_path = _paths(bench.path, rid)
    identity = {"benchmark": {"name": bench.name, "manifest_sha256": bench.manifest_sha256,
                              "questions": len(bench.questions)},
                "schema_version": SCHEMA_VERSION, "actbench_version": __version__, "rater_id": rid,
                "status": "running"}
    if spec.rater == "embedding":
        return _rate_with_embeddings(bench, meta_path, journal_path, identity, progress)
    return _rate_with_model(spec, bench, meta_path, journal_path, identity, progress)


def _rate_with_embeddings(bench: Benchmark, meta_path: Path, journal_path: Path, identity: dict[str, Any],
                          progress: Callable[[int, int], None] | None) -> Ratings:
    """Cheap and deterministic: computed whole and rewritten on every call, whatever was there."""
    from actbench.reports.embeddings import describe

    args = {"model": describe(), "statistic": raters.EMBEDDING_STATISTIC,
            "thresholds": list(raters.EMBEDDING_THRESHOLDS)}
    records = raters.embedding_records(bench.questions)
    meta_path.unlink(missing_ok=True)  # ratings without their metadata are never read (find_ratings)
    atomic_write_text(journal_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    meta = RatingsMeta(rater="embedding", args=args, **identity)
    _save(meta_path, finish_meta(meta, {r["id"]: r for r in records}, "complete"))
    if progress:
        progress(len(records), len(records))
    return load_ratings(bench, meta_path)


def _rate_with_model(spec: RatingSpec, bench: Benchmark, meta_path: Path, journal_path: Path,
                     identity: dict[str, Any], progress: Callable[[int, int], None] | None) -> Ratings:
    adapter = raters.rating_adapter(spec.model, spec.model_args, seed=spec.seed, data_dir=spec.data_dir)
    meta: RatingsMeta | None = None
    records: dict[str, dict] = {}
    journal = Journal(journal_path)

    def record(lines: list[dict]) -> None:
        journal.append(lines)
        records.update((line["id"], line) for line in lines)

    stopped = False
    try:
        if spec.replace:  # only once the model is known to be able to rate
            meta_path.unlink(missing_ok=True)  # the metadata first: a journal without it is never resumed
            journal_path.unlink(missing_ok=True)
        args = {"model": adapter.describe(), "prompt": spec.prompt, "seed": spec.seed}
        meta = _start(meta_path, journal_path, RatingsMeta(rater="llm", args=args, **identity), bench,
                      frozenset(getattr(adapter, "runtime_args", ())))
        _save(meta_path, meta)
        records.update(_read_lines(journal, bench))
        if hasattr(adapter, "spent_usd"):  # a budget (max_cost) covers the whole rating, not one session
            adapter.spent_usd = sum(r.get("cost_usd", 0.0) for r in records.values())
        record([raters.no_answer_record(q) for q in bench.questions
                if q.answer_index is None and q.id not in records])
        todo = [raters.rating_question(q, spec.prompt) for q in bench.questions if q.id not in records]
        step = max(1, int(adapter.batch_size))
        for start in range(0, len(todo), step):
            if progress:
                progress(len(records), len(bench.questions))
            batch = todo[start:start + step]
            try:
                answers = adapter.answer(batch)
            except KeyboardInterrupt as interrupt:  # answers finished before Ctrl-C were paid for: keep them
                wanted = {q.id for q in batch}
                record([raters.rating_record(a, spec.prompt) for a in getattr(interrupt, "partial_answers", [])
                        if a.id in wanted and a.id not in records])
                raise
            if [a.id for a in answers] != [q.id for q in batch]:
                raise RuntimeError(f"model '{spec.model}' answered {len(answers)} rating requests out of order "
                                   "or incompletely")
            sent = [a for a in answers if not a.extra.get(NOT_SENT)]
            record([raters.rating_record(a, spec.prompt) for a in sent])
            if len(sent) < len(batch):  # the model's budget (max_cost) is spent
                stopped = True
                break
    except BaseException as error:
        if meta is not None:  # the journal keeps what was rated
            _save(meta_path, finish_meta(meta, records, "interrupted" if isinstance(error, KeyboardInterrupt)
                                         else "failed"))
        raise
    finally:
        if hasattr(adapter, "close"):
            adapter.close()
    if progress:
        progress(len(records), len(bench.questions))
    _save(meta_path, finish_meta(meta, records, "stopped" if stopped else "complete"))
    if stopped:
        raise ActbenchError(f"{journal_path}: stopped before exceeding the budget after {len(records)} of "
                            f"{len(bench.questions)} questions (rerun with a larger --max-cost to finish)")
    return load_ratings(bench, meta_path)


def finish_meta(meta: RatingsMeta, records: dict[str, dict], status: str) -> RatingsMeta:
    """The metadata with the status and the counts and cost of the ratings so far."""
    cost = round(float(sum(r.get("cost_usd", 0.0) for r in records.values())), 6)
    return meta.model_copy(update={"status": status, "counts": _counts(records), "cost_usd": cost})
