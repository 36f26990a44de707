"""The one orchestrator: ``run(spec)`` answers a benchmark with a model and writes the run directory.

Run directory (DESIGN.md): ``run.json`` (model name + arguments, the benchmark's manifest hash, seed,
versions, start/end), ``predictions.jsonl`` (the journal, see journal.py) and ``metrics.json``.
A run that is killed or interrupted resumes with ``resume=True``: the journal says which questions are
done, and the run must match the recorded model, arguments, benchmark, seed, limit and shard.
With ``sap=True`` the model's own earlier answers go into the prompt (sequential action prediction,
see sap.py): the askings are then scheduled in video order instead of in fixed slices.
With ``shard=(i, n)`` the run answers only shard i of n of the questions (runs/shard.py: the rule, and
why); ``actbench merge`` (runs/merge.py) joins the shards' run directories into one run.
Under a launcher (``launch``: torchrun, accelerate launch) each process answers its shard inside the one
run directory and the first writes the run (runs/ranks.py).
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from actbench import __version__, sap
from actbench.atomic import atomic_write_json, atomic_write_text
from actbench.errors import ActbenchError
from actbench.evaluators.circular import circular_metrics, rotate
from actbench.evaluators.mqa_accuracy import score_mqa
from actbench.journal import Journal, answer_from_record, answer_to_record
from actbench.model_adapters import MODELS
from actbench.model_adapters.base import AdapterContext
from actbench.model_adapters.multi_answer import answer_fits, is_multi_label
from actbench.mqa_builder.benchmark_dir import MANIFEST, QUESTIONS, Benchmark, load_benchmark
from actbench.mqa_builder.cards import load_cards
from actbench.records import NOT_SENT, Answer, Question
from actbench.runs import shard as sharding
from actbench.runs.shard import Merged, Shard

if TYPE_CHECKING:
    from actbench.runs.ranks import Launch

SCHEMA_VERSION = 1
RUN_JSON = "run.json"
PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"
DEFAULT_RESULTS = Path("results")


def built_benchmark_dir(name: str, results: Path = DEFAULT_RESULTS) -> Path:
    """Where ``actbench build-mqa --benchmark NAME`` puts a card's benchmark by default."""
    return results / "benchmarks" / name


def resolve_benchmark(name_or_dir: str, results: Path = DEFAULT_RESULTS) -> Path:
    path = Path(name_or_dir)
    if (path / MANIFEST).is_file():
        return path
    built = built_benchmark_dir(name_or_dir, results)
    if (built / MANIFEST).is_file():
        return built
    if name_or_dir in {c.name for c in load_cards()}:
        raise ActbenchError(f"benchmark '{name_or_dir}' is not built yet: run "
                            f"`actbench build-mqa --benchmark {name_or_dir}` (it writes {built})")
    raise ActbenchError(f"{name_or_dir}: not a benchmark directory (no {MANIFEST}) nor a benchmark card name")


class RunInfo(BaseModel):
    """``run.json``: enough to reproduce the run and to put it on a leaderboard without the model."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int
    actbench_version: str
    model: dict[str, Any]
    benchmark: dict[str, Any]
    seed: int
    limit: int | None
    permutations: int = 0
    sap: bool = False  # sequential action prediction: a different leaderboard row from the plain run
    frames: dict[str, Any] | None = None
    shard: Shard | None = None  # this run answers one slice of the questions (actbench run --shard i/n)
    merged: Merged | None = None  # this run was joined from shard runs (actbench merge)
    versions: dict[str, str]
    started_at: str
    finished_at: str | None = None
    status: Literal["running", "interrupted", "stopped", "failed", "complete"] = "running"

    @property
    def partial(self) -> bool:
        """Answers only part of the run's questions: a shard, or a merge with shards missing."""
        return self.shard is not None or (self.merged is not None and bool(self.merged.missing))


@dataclass(frozen=True)
class RunSpec:
    model: str
    benchmark: str
    out: Path | None = None
    limit: int | None = None
    seed: int = 0
    resume: bool = False
    data_dir: Path | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    results: Path = DEFAULT_RESULTS
    permutations: int = 0  # also ask each question with its options rotated 1..K times (CircularEval)
    video_root: Path | None = None  # frames for models that look at the video
    n_frames: int = 8  # the papers use 8 (LLaVAction Table 1), 16 and 32
    frame_size: int = 384  # short side in pixels
    video_layout: str = "video"  # "video" (P01/videos/P01_01.MP4), "rgb_frames" (JPEG folders) or "flat" (<id>.mp4)
    sap: bool = False  # feed the model's answers to the two previous actions back (sap.py)
    shard: tuple[int, int] | None = None  # (i, n): answer only shard i of n (runs/shard.py)
    rank_timeout: float = 120.0  # under a launcher: seconds without a heartbeat before a process is missing

    def out_dir(self, benchmark_name: str) -> Path:
        if self.out is not None:
            return Path(self.out)
        name = f"{self.model}-sap" if self.sap else self.model
        if self.shard is not None:  # jobs of one array share the results folder: one directory per shard
            name += f"-shard-{self.shard[0]}-of-{self.shard[1]}"
        return self.results / "runs" / benchmark_name / name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def asked_questions(questions: list[Question], permutations: int) -> list[Question]:
    """The questions as asked: the originals first, then each rotation of them (see circular.py)."""
    if permutations and any(is_multi_label(q) for q in questions):  # circular.rotate moves one answer only
        raise ActbenchError.bad_value("--permutations", "permutations", "0 for a multi-label benchmark", permutations)
    if permutations < 0 or any(permutations >= len(q.options) for q in questions):
        smallest = min(len(q.options) for q in questions)
        raise ActbenchError.bad_value("--permutations", "permutations", f"an integer in [0, {smallest - 1}]",
                                      permutations)
    return questions + [rotate(q, shift) for shift in range(1, permutations + 1) for q in questions]


def run_metrics(info: RunInfo, benchmark_name: str, questions: list[Question], asked: list[Question],
                answers: dict[str, Answer], sap_plan: sap.SapPlan | None, *, wall_s: float, answered_now: int,
                part: dict[str, Any] | None = None) -> dict:
    """``metrics.json`` of a finished run (``actbench merge`` recomputes a merged run's with it too).

    ``part``: for a run answering part of its questions (a shard), which part.
    """
    metrics = score_mqa(questions, answers, seed=info.seed)
    if len(asked) > len(questions):
        metrics["circular"] = circular_metrics(asked, answers)
    failed = [a for a in answers.values() if a.status == "error"]
    metrics["errors"] = [{"id": a.id, "reason": a.raw[:200]} for a in sorted(failed, key=lambda a: a.id)[:50]]
    metrics["wall_s"] = round(wall_s, 6)
    metrics["throughput_qps"] = round(answered_now / wall_s, 3) if wall_s > 0 and answered_now else None
    if sap_plan is not None:
        metrics["sap"] = sap.summary(sap_plan, answers)
    if part is not None:
        metrics["part"] = part
    return {"schema_version": SCHEMA_VERSION, "model": info.model["name"], "benchmark": benchmark_name, **metrics}


def _frame_sampler(spec: RunSpec, adapter) -> Any:
    """The run's frame sampler, or None for models that never look at frames."""
    if not getattr(adapter, "uses_frames", False):
        return None
    if spec.video_root is None:
        raise ActbenchError(f"model '{spec.model}' looks at video frames: pass --video-root DIR "
                            "(the EPIC-KITCHENS video folder)")
    if not Path(spec.video_root).is_dir():
        raise ActbenchError(f"{spec.video_root}: not a directory (--video-root)")
    from actbench.model_adapters.video import FrameSampler

    return FrameSampler(n_frames=spec.n_frames, size=spec.frame_size, layout=spec.video_layout)


def _answer_batch(adapter, batch: list[Question], sampler, video_root) -> list[Answer]:
    """The adapter's answers; a question whose frames cannot be read gets status error with the reason."""
    if sampler is None:
        return adapter.answer(batch)
    results = [sampler.frames_for(video_root, q) for q in batch]
    good = [(q, r.frames) for q, r in zip(batch, results) if r.ok]
    answered = iter(adapter.answer([q for q, _ in good], frames=[f for _, f in good]) if good else [])
    return [next(answered) if r.ok else Answer(q.id, None, "error", f"video: {r.error}", 0.0)
            for q, r in zip(batch, results)]


def _valid(a: Answer, q: Question) -> Answer:
    """A letter outside the question's options is recorded as a parse failure, never as that letter (a
    multi-label question's answer is its sorted letters, "AC")."""
    if a.status == "ok" and not answer_fits(q, a.answer):
        return Answer(a.id, None, "parse_fail", a.raw, a.latency_s, a.tokens_in, a.tokens_out, a.cost_usd, a.extra)
    return a


def _checked(answers: list[Answer], batch: list[Question], model: str) -> list[Answer]:
    """Adapter output as the run records it: one answer per question, in order, letters within the options."""
    if [a.id for a in answers] != [q.id for q in batch]:
        raise RuntimeError(f"model '{model}' answered {len(answers)} questions out of order or incompletely")
    return [_valid(a, q) for a, q in zip(answers, batch)]


def _fed_back(a: Answer, q: Question) -> Answer:
    """The answer as journaled: in a SAP run, with what was fed back to its question."""
    return replace(a, extra={**a.extra, sap.KEY: q.extra[sap.KEY]}) if sap.KEY in q.extra else a


def _load_answers(journal: Journal, questions: list[Question]) -> dict[str, Answer]:
    wanted = {q.id: q for q in questions}
    answers: dict[str, Answer] = {}
    for number, record in enumerate(journal.read(), start=1):
        where = f"{journal.path}:{number}"
        a = answer_from_record(record, where)
        if a.id not in wanted:
            raise ActbenchError.bad_value(where, "id", "a question of this run's benchmark", a.id)
        if a.status == "ok" and not answer_fits(wanted[a.id], a.answer):
            what = "sorted letters of" if is_multi_label(wanted[a.id]) else "one of"
            raise ActbenchError.bad_value(where, "answer", f"{what} {', '.join(wanted[a.id].letters)}", a.answer)
        if a.id in answers:
            raise ActbenchError.bad_value(where, "id", "each question answered once", f"{a.id} twice")
        answers[a.id] = a
    return answers


def _without(model: dict[str, Any], runtime: frozenset[str]) -> dict[str, Any]:
    return {**model, "args": {k: v for k, v in model.get("args", {}).items() if k not in runtime}}


def _start(spec: RunSpec, out: Path, identity: dict[str, Any], runtime: frozenset[str]) -> RunInfo:
    run_json = out / RUN_JSON
    if run_json.exists():
        if not spec.resume:
            raise ActbenchError(f"{out}: a run is already there; pass --resume to finish it or choose another --out")
        try:
            info = RunInfo.model_validate_json(run_json.read_bytes())
        except ValidationError as error:
            raise ActbenchError.from_validation(run_json, error, "run.json") from None
        for key, value in identity.items():
            recorded = getattr(info, key)
            if isinstance(recorded, BaseModel):
                recorded = recorded.model_dump()
            if key == "model":  # concurrency, timeouts, budgets may change between sessions
                value, recorded = _without(value, runtime), _without(recorded, runtime)
            if recorded != value:
                raise ActbenchError.bad_value(run_json, key, f"{value} (this invocation)", recorded)
        return info.model_copy(update={"status": "running", "finished_at": None, "model": identity["model"]})
    if out.exists() and any(out.iterdir()):
        raise ActbenchError(f"{out}: exists and is not a run directory; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    return RunInfo(schema_version=SCHEMA_VERSION, actbench_version=__version__, started_at=_now(),
                   versions={"python": platform.python_version(), "numpy": np.__version__,
                             "platform": sys.platform}, **identity)


def load_run_info(run_dir: Path) -> RunInfo:
    """``run_dir/run.json``, validated; a missing folder or file or a bad field is a one-line error."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_JSON
    if not run_dir.is_dir():
        raise ActbenchError(f"{run_dir}: not a directory (expected a run directory with {RUN_JSON})")
    if not path.is_file():
        raise ActbenchError(f"{path}: file not found ({run_dir} is not a run directory)")
    try:
        return RunInfo.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise ActbenchError.from_validation(path, error, "run.json") from None


def _save(out: Path, info: RunInfo) -> None:
    atomic_write_text(out / RUN_JSON, info.model_dump_json(indent=2) + "\n")


def check_spec(spec: RunSpec) -> None:
    """The arguments that are wrong whatever the benchmark and the model."""
    if spec.limit is not None and spec.limit < 1:
        raise ActbenchError.bad_value("--limit", "limit", "a positive integer", spec.limit)
    if spec.seed < 0:
        raise ActbenchError.bad_value("--seed", "seed", "a non-negative integer", spec.seed)
    if not spec.rank_timeout > 0:
        raise ActbenchError.bad_value("--rank-timeout", "rank_timeout", "a positive number of seconds",
                                      spec.rank_timeout)


def run(spec: RunSpec, *, progress: Callable[[int, int], None] | None = None, launch: Launch | None = None) -> Path:
    """Answer every question of the benchmark not yet in the journal, then score the run.

    ``launch``: this process's place among several started by a launcher
    (:func:`actbench.runs.ranks.launch_from_environment`); it then answers its part (runs/ranks.py).
    """
    if launch is not None and launch.world_size > 1:
        from actbench.runs.ranks import run_launched

        return run_launched(spec, launch, progress=progress)
    return run_single(spec, progress=progress)


def run_single(spec: RunSpec, *, progress: Callable[[int, int], None] | None = None,
               benchmark: Benchmark | None = None, between_batches: Callable[[], None] | None = None) -> Path:
    """:func:`run` in this process alone. ``benchmark``: already loaded; ``between_batches``: called before
    each batch (a launch's processes look at each other there) and may raise to stop the run."""
    from actbench.runs.ranks import check_processes

    check_spec(spec)
    name, model_args = spec.model, dict(spec.model_args)
    if name.startswith("openai:"):  # any OpenAI-compatible server: openai:MODEL [--base-url URL]
        name, model_args["model"] = "openai", name.split(":", 1)[1]
    factory = MODELS.get(name)
    if benchmark is None:
        benchmark = load_benchmark(resolve_benchmark(spec.benchmark, spec.results))
    questions = list(benchmark.questions[: spec.limit] if spec.limit else benchmark.questions)
    run_shard = sharding.shard_of(spec.shard, questions, sap=spec.sap) if spec.shard is not None else None
    of = len(questions)
    if run_shard is not None:
        questions = sharding.select(questions, run_shard)
    asked = asked_questions(questions, spec.permutations)
    sap_plan = sap.plan(asked, where=benchmark.path / QUESTIONS) if spec.sap else None
    out = spec.out_dir(benchmark.name)
    # Checked before the model is loaded (which can take minutes for a local model).
    if out.exists() and not out.is_dir():
        raise ActbenchError(f"{out}: exists and is not a directory; choose another --out")
    if (out / RUN_JSON).exists() and not spec.resume:
        raise ActbenchError(f"{out}: a run is already there; pass --resume to finish it or choose another --out")
    check_processes(out, 1)  # a launch's run resumes under a launcher
    adapter = factory(AdapterContext(seed=spec.seed, data_dir=spec.data_dir, args=model_args,
                                     dataset=benchmark.manifest.dataset, split=benchmark.manifest.split))
    sampler = _frame_sampler(spec, adapter)
    if spec.sap and not getattr(adapter, "sees_prior_actions", False):
        if hasattr(adapter, "close"):
            adapter.close()
        raise ActbenchError(f"model '{spec.model}' does not put the prior-action sentence in its prompt "
                            "(sees_prior_actions), so --sap could not change its answers")
    identity = {
        "model": adapter.describe(),
        "benchmark": {"name": benchmark.name, "manifest_sha256": benchmark.manifest_sha256,
                      "questions": len(benchmark.questions)},
        "seed": spec.seed, "limit": spec.limit, "permutations": spec.permutations, "sap": spec.sap,
        # Every model of a run sees the same frames: the sampling is part of what makes runs comparable.
        "frames": None if sampler is None else {"video_root": str(spec.video_root), **sampler.describe()},
        "shard": None if run_shard is None else run_shard.model_dump(),
    }
    info = _start(spec, out, identity, frozenset(getattr(adapter, "runtime_args", ())))
    _save(out, info)
    journal = Journal(out / PREDICTIONS)
    answers = _load_answers(journal, asked)
    if hasattr(adapter, "spent_usd"):  # a budget (--max-cost) covers the whole run, not one session
        adapter.spent_usd = sum(a.cost_usd for a in answers.values())
    todo = [q for q in asked if q.id not in answers]
    done = len(asked) - len(todo)
    if progress:
        progress(done, len(asked))
    started = time.perf_counter()
    step = max(1, int(adapter.batch_size))

    def record(batch_answers: list[Answer], wall: float) -> None:
        journal.append({**answer_to_record(a), "wall_s": round(wall, 6)} for a in batch_answers)
        answers.update((a.id, a) for a in batch_answers)

    batches = (sap.batches(sap_plan, answers, step) if sap_plan is not None
               else (todo[start:start + step] for start in range(0, len(todo), step)))
    stopped = False
    try:
        for batch in batches:
            if between_batches is not None:
                between_batches()
            batch_start = time.perf_counter()
            try:
                batch_answers = _checked(_answer_batch(adapter, batch, sampler, spec.video_root), batch, spec.model)
            except KeyboardInterrupt as interrupt:
                # Answers an adapter finished before Ctrl-C were paid for: keep them.
                by_id = {q.id: q for q in batch}
                partial = [_fed_back(_valid(a, by_id[a.id]), by_id[a.id])
                           for a in getattr(interrupt, "partial_answers", []) if a.id in by_id]
                record(partial, 0.0)
                raise
            sent = [_fed_back(a, q) for a, q in zip(batch_answers, batch) if not a.extra.get(NOT_SENT)]
            # End-to-end time per question: the batch's wall time (model, parsing, journal) shared out.
            record(sent, (time.perf_counter() - batch_start) / max(len(batch), 1))
            done += len(sent)
            if progress:
                progress(done, len(asked))
            if len(sent) < len(batch):
                stopped = True  # the model's budget (--max-cost) is spent
                break
    except KeyboardInterrupt:
        _save(out, info.model_copy(update={"status": "interrupted"}))
        raise
    except BaseException:
        _save(out, info.model_copy(update={"status": "failed"}))  # the journal keeps what was answered
        raise
    finally:
        if hasattr(adapter, "close"):
            adapter.close()
    if stopped:
        _save(out, info.model_copy(update={"status": "stopped"}))
        raise ActbenchError(f"{out}: stopped before exceeding the budget after {done} of {len(asked)} questions "
                            "(journal intact; --resume with a larger --max-cost finishes it)")
    part = None if run_shard is None else {"shard": str(run_shard), "by": run_shard.by, "questions": len(questions),
                                           "of": of}
    metrics = run_metrics(info, benchmark.name, questions, asked, answers, sap_plan,
                          wall_s=time.perf_counter() - started, answered_now=len(todo), part=part)
    atomic_write_json(out / METRICS, metrics)
    _save(out, info.model_copy(update={"status": "complete", "finished_at": _now()}))
    return out
