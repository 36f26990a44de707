"""Runner overhead: the ``random`` adapter over every question of a built EK100-MQA, journal included.

Target (issue 3): all 9,668 questions in under 3 seconds. Prints the time of the whole ``run`` call
(loading and validating the benchmark, answering, journaling with fsync per batch, scoring with the
bootstrap) and the same with the journal's fsync disabled, side by side, so the cost of durability is
visible. Run: ``ACTBENCH_DATA_DIR=../shared/data python perf/runner_overhead.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.runner import RunSpec, run


def timed_run(bench: Path, out: Path) -> float:
    t0 = time.perf_counter()
    run(RunSpec(model="random", benchmark=str(bench), out=out))
    return time.perf_counter() - t0


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="actbench-perf-"))
    bench = work / "ek100-mqa-random"
    build_mqa(BuildSpec(source="random", out=bench))
    with_fsync = min(timed_run(bench, work / f"run-{i}") for i in range(3))
    with mock.patch.object(os, "fsync", lambda fd: None):
        without = min(timed_run(bench, work / f"nofsync-{i}") for i in range(3))
    lines = len((work / "run-0" / "predictions.jsonl").read_text().splitlines())
    print(f"random adapter, {lines} questions: {with_fsync:.3f} s with the journal fsynced per batch "
          f"({lines / with_fsync:,.0f} q/s); {without:.3f} s without fsync (ratio {with_fsync / without:.2f}); "
          f"target < 3 s")


if __name__ == "__main__":
    main()
