"""``actbench merge``: join the run directories of ``actbench run --shard i/n`` jobs into one run directory.

The merged directory is an ordinary run (``run.json``, ``predictions.jsonl``, ``metrics.json``) that
``actbench report`` and ``actbench compare`` read like an unsharded one:

- ``predictions.jsonl``: the shards' journal lines, byte for byte, in the run's question order (the
  benchmark's, then each rotation of ``--permutations``), so the same shards give the same bytes in
  whatever order they are named;
- ``metrics.json``: recomputed from those answers by the runner's own :func:`~actbench.runner.run_metrics`,
  so it equals an unsharded run's except the timing fields: ``wall_s`` is the shards' wall times added
  (machine time, not elapsed time) and ``throughput_qps`` is null (the shards ran side by side);
- ``run.json``: the shards' common identity, ``merged`` (each shard's run directory, versions and times;
  the missing shards), started at the earliest shard's start and finished at the latest shard's end.

Refused with a one-line error and nothing written: inputs that are not shard runs, shards of different
runs (benchmark hash, model and arguments but the device, seed, limit, permutations, sap, frame sampling
(the video folder may sit at another path on each machine), shard count), the same
shard twice, a question answered in two shards or outside its shard, and, unless ``allow_partial``, a
set with shards missing or unfinished. A partial merge answers only its shards' questions: its
``merged.missing`` lists the others, its metrics say which part they cover, and the leaderboard leaves
it out, as it leaves out shard runs.

:func:`join` is the merge without the writing: the processes of one launch (runs/ranks.py) join their
parts with it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

from actbench import sap
from actbench.atomic import StagedDirectory, dumps_json
from actbench.errors import ActbenchError
from actbench.evaluators.circular import original_id
from actbench.journal import answer_from_record
from actbench.mqa_builder.benchmark_dir import MANIFEST, QUESTIONS, Benchmark, load_benchmark
from actbench.records import Answer, Question
from actbench.runner import (DEFAULT_RESULTS, METRICS, PREDICTIONS, RUN_JSON, RunInfo, asked_questions, load_run_info,
                             resolve_benchmark, run_metrics)
from actbench.runs.shard import Merged, MergedShard, assign

# What makes shard runs parts of one run (run.json fields; the shard's index is what tells them apart).
SAME_RUN = ("model", "seed", "limit", "permutations", "sap", "frames")


def _same(key: str, value: object) -> object:
    """A field as compared: the frame sampling, not where each machine mounted the videos; the model, not
    which of the machine's GPUs each part ran on (the processes of a launch take one each: runs/ranks.py)."""
    if key == "frames" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "video_root"}
    if key == "model" and isinstance(value, dict) and isinstance(value.get("args"), dict):
        return {**value, "args": {k: v for k, v in value["args"].items() if k != "device"}}
    return value


@dataclass
class _Input:
    run_dir: Path
    info: RunInfo

    @property
    def run_json(self) -> Path:
        return self.run_dir / RUN_JSON

    @property
    def finished(self) -> bool:
        return self.info.status == "complete" and (self.run_dir / METRICS).is_file()


def _read_input(run_dir: Path) -> _Input:
    run_dir = Path(run_dir)
    path = run_dir / RUN_JSON
    info = load_run_info(run_dir)
    if info.shard is None:
        raise ActbenchError.bad_value(path, "shard", "a shard run (actbench run --shard i/n)",
                                      "none (a whole run)" if info.merged is None else "none (a merged run)")
    return _Input(run_dir, info)


def _check_one_run(inputs: list[_Input]) -> None:
    """Every input is a shard of the same run as the first, and no shard comes twice."""
    first = inputs[0]
    sha = first.info.benchmark.get("manifest_sha256")
    seen: dict[int, _Input] = {}
    for shard_run in inputs:
        info = shard_run.info
        if info.benchmark.get("manifest_sha256") != sha:
            raise ActbenchError.bad_value(shard_run.run_json, "benchmark.manifest_sha256",
                                          f"{sha}, the benchmark of {first.run_json} (shards of one run)",
                                          f"{info.benchmark.get('manifest_sha256')} (benchmark "
                                          f"'{info.benchmark.get('name')}')")
        for key in ("benchmark", *SAME_RUN):
            if _same(key, getattr(info, key)) != _same(key, getattr(first.info, key)):
                raise ActbenchError.bad_value(shard_run.run_json, key, f"{getattr(first.info, key)}, as in "
                                              f"{first.run_json} (shards of one run)", getattr(info, key))
        if (info.shard.count, info.shard.by) != (first.info.shard.count, first.info.shard.by):
            raise ActbenchError.bad_value(shard_run.run_json, "shard", f"a shard of {first.info.shard.count} by "
                                          f"{first.info.shard.by}, as in {first.run_json}",
                                          f"{info.shard} by {info.shard.by}")
        if info.shard.index in seen:
            raise ActbenchError.bad_value(shard_run.run_json, "shard", f"each shard once ({info.shard} is also "
                                          f"{seen[info.shard.index].run_dir})", str(info.shard))
        seen[info.shard.index] = shard_run


def _benchmark(first: _Input, choice: str | None, results: Path) -> Benchmark:
    """The benchmark the shards answered: ``choice``, else found by its recorded name; its hash must match."""
    name = str(first.info.benchmark.get("name"))
    if choice is None:
        try:
            path = resolve_benchmark(name, results)
        except ActbenchError:
            raise ActbenchError.bad_value(first.run_json, "benchmark.name", f"a benchmark directory or built card "
                                          f"under {results} (or pass --benchmark DIR)", name) from None
    else:
        path = resolve_benchmark(choice, results)
    benchmark = load_benchmark(path)
    sha = first.info.benchmark.get("manifest_sha256")
    if benchmark.manifest_sha256 != sha:
        raise ActbenchError.bad_value(Path(path) / MANIFEST, "sha256", f"{sha}, the benchmark recorded in "
                                      f"{first.run_json}", f"{benchmark.manifest_sha256} (another build)")
    return benchmark


def _read_journal(shard_run: _Input) -> dict[str, tuple[Answer, str, str]]:
    """id -> (answer, journal line, where), read without touching the file (a finished run has no cut line)."""
    path = shard_run.run_dir / PREDICTIONS
    if not path.is_file():
        raise ActbenchError(f"{path}: file not found (the shard's journal of answers)")
    data = path.read_text(encoding="utf-8")
    if data and not data.endswith("\n"):
        raise ActbenchError.bad_value(path, "last line", "a complete line (the run is marked complete)", "a cut line")
    lines: dict[str, tuple[Answer, str, str]] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ActbenchError.bad_value(where, "line", "a JSON object", f"invalid JSON ({error.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ActbenchError.bad_value(where, "id", "an object with a question id", record)
        answer = answer_from_record(record, where)
        if answer.id in lines:
            raise ActbenchError.bad_value(where, "id", "each question answered once", f"{answer.id} twice")
        lines[answer.id] = (answer, line, where)
    return lines


def _missing_note(missing: list[int], unfinished: list[_Input], count: int) -> str:
    """Each shard not merged, in order: not given at all, or given but not finished (and where)."""
    given = {u.info.shard.index: u for u in unfinished}
    return "; ".join(f"shard {i}/{count} unfinished (status {given[i].info.status}) in {given[i].run_dir}"
                     if i in given else f"shard {i}/{count} missing" for i in missing)


def _refuse_overlaps(finished: list[_Input], journals: list[dict]) -> None:
    """No question answered in two shards (checked on the journals themselves, whatever run.json says)."""
    answered_in: dict[str, Path] = {}
    for shard_run, journal in zip(finished, journals):
        for qid, (_, _, where) in journal.items():
            if qid in answered_in:
                raise ActbenchError.bad_value(where, "id", "a question answered in one shard only",
                                              f"{qid}, also answered in {answered_in[qid]}")
            answered_in[qid] = shard_run.run_dir


def _in_run_order(finished: list[_Input], journals: list[dict], asked: list[Question], owner: dict[str, int],
                  bench_name: str) -> tuple[dict[str, Answer], list[str]]:
    """The answers and journal lines of every asking, in run order; each shard answered its own, all of them."""
    by_id = {q.id: q for q in asked}
    for shard_run, journal in zip(finished, journals):
        for qid, (answer, _, where) in journal.items():
            q = by_id.get(qid)
            if q is None or owner[original_id(qid)] != shard_run.info.shard.index:
                raise ActbenchError.bad_value(where, "id", f"a question of shard {shard_run.info.shard} of benchmark "
                                              f"'{bench_name}'", qid)
            if answer.status == "ok" and answer.answer not in q.letters:
                raise ActbenchError.bad_value(where, "answer", f"one of {', '.join(q.letters)}", answer.answer)
    merged = {qid: entry for journal in journals for qid, entry in journal.items()}
    answers: dict[str, Answer] = {}
    lines: list[str] = []
    for q in asked:
        if q.id not in merged:
            shard_run = next(s for s in finished if s.info.shard.index == owner[original_id(q.id)])
            raise ActbenchError.bad_value(shard_run.run_dir / PREDICTIONS, "id", "an answer to every question of "
                                          f"shard {shard_run.info.shard} (the run is marked complete)",
                                          f"{q.id} missing")
        answer, line, _ = merged[q.id]
        answers[q.id] = answer
        lines.append(line + "\n")
    return answers, lines


def _timing(path: Path) -> tuple[float, float | None]:
    """A part's ``wall_s`` (its last session's wall time) and ``throughput_qps`` from its metrics.json."""
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        rate = metrics.get("throughput_qps")
        return float(metrics.get("wall_s") or 0.0), None if rate is None else float(rate)
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
        raise ActbenchError.bad_value(path, "wall_s", "a metrics.json written by actbench run", str(error)) from None


@dataclass(frozen=True)
class Joined:
    """A run joined from its parts: what goes into its run.json, predictions.jsonl and metrics.json."""

    info: RunInfo
    lines: list[str]
    metrics: dict


def read_inputs(run_dirs: Sequence[Path]) -> list[_Input]:
    """The shard runs of ``run_dirs`` in shard order, checked to be parts of one run, each once."""
    if not run_dirs:
        raise ActbenchError.bad_value("merge", "RUN_DIR", "the run directories of the shards", "none")
    inputs = sorted((_read_input(Path(d)) for d in run_dirs), key=lambda s: (s.info.shard.index, str(s.run_dir)))
    _check_one_run(inputs)
    return inputs


def join(inputs: list[_Input], bench: Benchmark, *, allow_partial: bool = False,
         side_by_side: bool = False) -> Joined:
    """The run made of the shard runs ``inputs`` (from :func:`read_inputs`) of benchmark ``bench``.

    Timing: shards run as separate jobs add up (``wall_s`` is their sum, ``throughput_qps`` null);
    ``side_by_side`` parts (the processes of one launch) overlap: ``wall_s`` is the longest part's and
    ``throughput_qps`` the parts' rates added.
    """
    first = inputs[0].info
    questions = list(bench.questions[: first.limit] if first.limit else bench.questions)
    owner = dict(zip((q.id for q in questions), assign([q.video_id for q in questions], first.shard.count,
                                                        first.shard.by)))
    finished = [s for s in inputs if s.finished]
    journals = [_read_journal(s) for s in finished]
    _refuse_overlaps(finished, journals)
    present = {s.info.shard.index for s in finished}
    missing = sorted(set(range(first.shard.count)) - present)
    unfinished = [s for s in inputs if not s.finished]
    if missing and not allow_partial:
        raise ActbenchError(f"incomplete set of shards: {_missing_note(missing, unfinished, first.shard.count)}; "
                            "pass --allow-partial to merge the finished ones")
    if not finished:
        raise ActbenchError(f"no finished shard to merge: {_missing_note(missing, inputs, first.shard.count)}")
    kept = [q for q in questions if owner[q.id] in present]
    asked = asked_questions(kept, first.permutations)
    answers, lines = _in_run_order(finished, journals, asked, owner, bench.name)
    sap_plan = sap.plan(asked, where=bench.path / QUESTIONS) if first.sap else None
    timings = [_timing(s.run_dir / METRICS) for s in finished]
    walls = [wall for wall, _ in timings]
    merged = Merged(count=first.shard.count, by=first.shard.by, missing=missing, shards=[
        MergedShard(index=s.info.shard.index, run_dir=str(s.run_dir), actbench_version=s.info.actbench_version,
                    versions=s.info.versions, started_at=s.info.started_at, finished_at=s.info.finished_at)
        for s in finished])
    info = finished[0].info.model_copy(update={
        "shard": None, "merged": merged, "status": "complete",
        "started_at": min(s.info.started_at for s in finished),
        "finished_at": max(s.info.finished_at or "" for s in finished) or None})
    part = None if not missing else {"shards": sorted(present), "count": first.shard.count, "missing": missing,
                                     "questions": len(kept), "of": len(questions)}
    metrics = run_metrics(info, bench.name, kept, asked, answers, sap_plan,
                          wall_s=float(max(walls) if side_by_side else sum(walls)), answered_now=0, part=part)
    if side_by_side:
        rates = [rate for _, rate in timings if rate is not None]
        metrics["throughput_qps"] = round(sum(rates), 3) if rates else None
    return Joined(info, lines, metrics)


def merge(run_dirs: Sequence[Path], out: Path, *, benchmark: str | None = None,
          results: Path = DEFAULT_RESULTS, allow_partial: bool = False) -> Path:
    """Join shard run directories into the run directory ``out`` (see the module's docstring)."""
    if not run_dirs:
        raise ActbenchError.bad_value("merge", "RUN_DIR", "the run directories of the shards", "none")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ActbenchError(f"{out}: exists and is not an empty directory; choose another --out")
    inputs = read_inputs(run_dirs)
    joined = join(inputs, _benchmark(inputs[0], benchmark, Path(results)), allow_partial=allow_partial)
    with StagedDirectory(out) as staging:
        (staging / PREDICTIONS).write_bytes("".join(joined.lines).encode("utf-8"))
        (staging / METRICS).write_bytes(dumps_json(joined.metrics).encode("utf-8"))
        (staging / RUN_JSON).write_bytes((joined.info.model_dump_json(indent=2) + "\n").encode("utf-8"))
    return out
