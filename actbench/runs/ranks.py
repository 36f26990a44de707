"""``actbench run`` under a launcher: the processes of one launch share the questions of one run.

``accelerate launch --num_processes 8 -m actbench run ...`` (one process per GPU) or
``ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 -m actbench run ...`` start N processes with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in their environment. Process R answers exactly what
``actbench run --shard R/N`` would (runs/shard.py), as a shard run of its own inside the one run directory::

    RUN/ranks/rank-R-of-N/              run.json, predictions.jsonl (its journal), metrics.json
    RUN/ranks/rank-R-of-N.state.json    its heartbeat (runs/heartbeat.py)
    RUN/run.json, predictions.jsonl, metrics.json    the run, written by rank 0 once every rank is done

Rank 0 joins the parts with ``actbench merge``'s own code (:func:`actbench.runs.merge.join`), so the run
equals an unsharded run and is the same whatever N, but for the timing fields (``started_at``,
``finished_at``; ``wall_s`` and ``latency_s`` of each answer; ``wall_s`` of the run is its longest part's
and ``throughput_qps`` the parts' rates added). The rank directories stay as the run's provenance.

A local model goes on the process's GPU: when CUDA is there, ``cuda`` (and ``auto``'s choice) means
``cuda:LOCAL_RANK``; without CUDA every process runs on the CPU. A process that fails makes the others stop
with its reason; one killed or never started is named after ``--rank-timeout`` seconds without a heartbeat.
Resuming: relaunch with ``--resume`` and the same number of processes; each resumes from its own journal.
Another number of processes is refused (the journals are dealt for N), and so are ``--shard`` and
``--max-cost`` (a budget per process) under a launcher, a run without a launcher over a launch's directory
and a launch over a run without one. RUN must be on a file system every process sees (several machines).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from actbench.atomic import atomic_write_bytes, atomic_write_json
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import Benchmark, load_benchmark
from actbench.runs import heartbeat

RANKS = "ranks"
_RANK_DIR = re.compile(r"rank-(\d+)-of-(\d+)")
# Where a GPU driver shows itself: without one, importing torch (seconds) would only say "no CUDA".
_GPU_DRIVERS = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd")


@dataclass(frozen=True)
class Launch:
    """This process's place in a launch: rank ``rank`` of ``world_size``, on local device ``local_rank``."""

    rank: int
    world_size: int
    local_rank: int


def _integer(environ: Mapping[str, str], name: str, expected: str, low: int, high: int | None) -> int:
    text = environ.get(name, "")
    if not text.strip().isdigit() or int(text) < low or (high is not None and int(text) >= high):
        raise ActbenchError.bad_value("environment", name, expected, text or "unset")
    return int(text)


def launch_from_environment(environ: Mapping[str, str] = os.environ) -> Launch | None:
    """The launch torchrun / accelerate launch describe in the environment; None for a single process.

    >>> launch_from_environment({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    Launch(rank=1, world_size=2, local_rank=1)
    >>> launch_from_environment({}) is None
    True
    """
    if environ.get("WORLD_SIZE") in (None, "", "1"):
        return None
    world = _integer(environ, "WORLD_SIZE", "a positive integer (the number of processes)", 1, None)
    rank = _integer(environ, "RANK", f"an integer in [0, {world}) (set with WORLD_SIZE by torchrun or "
                    "accelerate launch)", 0, world)
    local = _integer({"LOCAL_RANK": str(rank), **environ}, "LOCAL_RANK", "a non-negative integer", 0, None)
    return Launch(rank, world, local)


def rank_dir(run_dir: Path, rank: int, world_size: int) -> Path:
    return Path(run_dir) / RANKS / f"rank-{rank}-of-{world_size}"


def _rank_dirs(run_dir: Path) -> list[tuple[int, int, Path]]:
    """(rank, world size, directory) of every rank run started in ``run_dir`` (one with a run.json)."""
    from actbench.runner import RUN_JSON

    folder = Path(run_dir) / RANKS
    found = [(int(m[1]), int(m[2]), p) for p in (folder.iterdir() if folder.is_dir() else [])
             if (m := _RANK_DIR.fullmatch(p.name)) and (p / RUN_JSON).is_file()]
    return sorted(found)


def is_rank_part(run_dir: Path) -> bool:
    """``run_dir`` is one process's part of a launch's run (``RUN/ranks/rank-R-of-N``), not a run of its own."""
    run_dir = Path(run_dir)
    return run_dir.parent.name == RANKS and _RANK_DIR.fullmatch(run_dir.name) is not None


def check_processes(run_dir: Path, world_size: int) -> None:
    """Refuse to go on with another number of processes than the launch that answered ``run_dir``."""
    counts = sorted({count for _, count, _ in _rank_dirs(run_dir)})
    if counts and counts != [world_size]:
        this = f"{world_size} (this launch)" if world_size > 1 else "1 (this run, without a launcher)"
        names = ", ".join(p.name for _, _, p in _rank_dirs(run_dir))
        raise ActbenchError.bad_value(Path(run_dir) / RANKS, "processes", this, f"{' and '.join(map(str, counts))} "
                                      f"({names}): resume with as many processes as the launch that started it")


def _check_run_dir(run_dir: Path, resume: bool, world_size: int) -> None:
    """What every process checks before writing anything, on files no process of this launch writes before
    every process is done (so all agree): the run is new, or a launch's run resumed with as many processes."""
    from actbench.runner import RUN_JSON

    if run_dir.exists() and not run_dir.is_dir():
        raise ActbenchError(f"{run_dir}: exists and is not a directory; choose another --out")
    if (run_dir / RUN_JSON).exists() and not resume:
        raise ActbenchError(f"{run_dir}: a run is already there; pass --resume to finish it or choose another --out")
    has_ranks = (run_dir / RANKS).is_dir()
    if (run_dir / RUN_JSON).exists() and not has_ranks:
        raise ActbenchError.bad_value(run_dir / RUN_JSON, "processes", f"{world_size} (this launch)", "1 (a run "
                                      "without a launcher): resume it without one")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not has_ranks and not (run_dir / RUN_JSON).exists():
        raise ActbenchError(f"{run_dir}: exists and is not a run directory; choose another --out")
    check_processes(run_dir, world_size)


def use_rank_device(local_rank: int) -> str:
    """Make ``cuda`` mean this process's GPU (``cuda:LOCAL_RANK``) when there is CUDA; the device taken."""
    if "torch" not in sys.modules and not any(Path(p).exists() for p in _GPU_DRIVERS):
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    if not torch.cuda.is_available():
        return "cpu"
    count = torch.cuda.device_count()
    index = 0 if count == 1 else local_rank  # one GPU visible: the launcher gave each process its own
    if index >= count:
        raise ActbenchError.bad_value("environment", "LOCAL_RANK", f"an integer in [0, {count}) (one process per "
                                      "GPU of this machine)", local_rank)
    torch.cuda.set_device(index)
    return f"cuda:{index}"


def _units(questions, sap: bool) -> tuple[int, str]:
    if sap:
        return len({q.video_id for q in questions}), "videos (--sap keeps a video's questions together)"
    return len(questions), "questions"


def _write_run(run_dir: Path, bench: Benchmark, world_size: int) -> None:
    """The run's files from the rank runs; run.json last, since a complete run.json says the run is there."""
    from actbench.runner import METRICS, PREDICTIONS, RUN_JSON
    from actbench.runs.merge import join, read_inputs

    joined = join(read_inputs([rank_dir(run_dir, r, world_size) for r in range(world_size)]), bench,
                  side_by_side=True)
    atomic_write_bytes(run_dir / PREDICTIONS, "".join(joined.lines).encode("utf-8"))
    atomic_write_json(run_dir / METRICS, joined.metrics)
    info = joined.info.model_copy(update={"merged": None})  # the rank directories say where the parts are
    atomic_write_bytes(run_dir / RUN_JSON, (info.model_dump_json(indent=2) + "\n").encode("utf-8"))


def _reason(error: BaseException) -> str:
    if isinstance(error, ActbenchError):
        return str(error)
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= 300 else text[:297] + "..."


def run_launched(spec, launch: Launch, *, progress: Callable[[int, int], None] | None = None) -> Path:
    """Answer this process's part of ``spec``'s run; rank 0 then writes the run. Returns the run directory."""
    from actbench.runner import check_spec, resolve_benchmark, run_single

    rank, world = launch.rank, launch.world_size
    if spec.shard is not None:
        raise ActbenchError.bad_value("--shard", "shard", f"no --shard under a launcher (process R of {world} "
                                      f"answers what --shard R/{world} would)", f"{spec.shard[0]}/{spec.shard[1]}")
    if spec.model_args.get("max_cost") is not None:  # each process keeps its own account
        raise ActbenchError.bad_value("--max-cost", "max_cost", f"no --max-cost under a launcher (each of the {world} "
                                      "processes could spend it; run API models in one process, with --concurrency)",
                                      spec.model_args["max_cost"])
    check_spec(spec)
    bench = load_benchmark(resolve_benchmark(spec.benchmark, spec.results))
    units, what = _units(bench.questions[: spec.limit] if spec.limit else bench.questions, spec.sap)
    if world > units:
        raise ActbenchError.bad_value("environment", "WORLD_SIZE", f"at most {units} processes (the run has {units} "
                                      f"{what})", world)
    run_dir = spec.out_dir(bench.name)
    _check_run_dir(run_dir, spec.resume, world)
    ranks_dir = run_dir / RANKS
    peers = heartbeat.Peers(ranks_dir, rank, world, spec.rank_timeout)  # read before this process's first beat
    beat = heartbeat.Heartbeat(heartbeat.state_file(ranks_dir, rank, world), rank, world,
                               heartbeat.beat_interval(spec.rank_timeout))
    beat.start()
    try:
        device = use_rank_device(launch.local_rank)
        requested = str(spec.model_args.get("device", ""))
        if device.startswith("cuda:") and re.fullmatch(r"cuda:\d+", requested) and requested != device:
            raise ActbenchError.bad_value("--device", "device", f"cuda or auto under a launcher (this process's "
                                          f"GPU is {device})", requested)
        run_single(replace(spec, out=rank_dir(run_dir, rank, world), shard=(rank, world)), progress=progress,
                   benchmark=bench, between_batches=peers.check)
        beat.set(heartbeat.DONE)
        if rank == 0:
            peers.wait(range(1, world), heartbeat.DONE)
            _write_run(run_dir, bench, world)
            beat.set(heartbeat.MERGED)
        else:
            peers.wait([0], heartbeat.MERGED)
    except BaseException as error:
        reason = _reason(error)
        beat.set(heartbeat.FAILED, reason)
        try:
            peers.until_seen()  # a process that started after this failure must still see it as this launch's
            beat.set(heartbeat.FAILED, reason)  # a change after each of them took its first look
        finally:
            beat.stop()
        raise
    beat.stop()
    return run_dir
