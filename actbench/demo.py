"""``make demo``: build two EPIC-KITCHENS-100-MQA benchmarks from the real annotations, run the
baselines on both, and write ``results/leaderboard.md``, ``.csv``, ``.html`` and the figures.

The annotations are read from ACTBENCH_DATA_DIR (``make demo`` points it at ../shared/data when that
exists); when they are not there yet, they are downloaded first with ``actbench data fetch``.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

from actbench.datasets.epic_kitchens import DATASET, FILES
from actbench.datasets.location import resolve_data_dir
from actbench.errors import ActbenchError
from actbench.mqa_builder.build import BuildSpec, build_mqa
from actbench.mqa_builder.cards import get_card
from actbench.reports.leaderboard import FIGURES_DIR, write_leaderboard
from actbench.runner import RunSpec, built_benchmark_dir, run

BENCHMARKS = ("ek100-mqa-prior", "ek100-mqa-random")
# (model, questions): the real SmolLM2-135M answers from the text alone at about 5-8 questions/s on two
# cores, so it takes a subset (the first N questions; the leaderboard says so in its model column).
MODELS = (("random", None), ("prior", None), ("oracle", None), ("smollm2-135m-blind", 300))
RESULTS = Path("results")


def _say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _progress(model: str):
    """A line every 10% once a run has taken a few seconds (the baselines finish before that)."""
    shown = set()
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if time.perf_counter() - started > 3.0 and tenth not in shown and done < total:
            shown.add(tenth)
            _say(f"  {model}: {done}/{total}")

    return report


def _ensure_data() -> Path:
    data_dir = resolve_data_dir()
    if not (data_dir / DATASET / FILES["validation"]).is_file():
        from actbench.datasets.fetch import fetch

        _say(f"annotations not found in {data_dir}: fetching them")
        fetch(DATASET, data_dir, progress=lambda event: _say(f"  {event.status}: {event.path}"))
    return data_dir


def main() -> int:
    started = time.perf_counter()
    try:
        data_dir = _ensure_data()
        _say(f"EPIC-KITCHENS-100 annotations: {data_dir}")
        for name in BENCHMARKS:
            card = get_card(name)
            out = built_benchmark_dir(name, RESULTS)
            _say(f"building {name} (source {card.source}) -> {out}")
            build_mqa(BuildSpec.from_card(card, out=out, data_dir=data_dir), log=lambda message: _say(f"  {message}"))
        for name in BENCHMARKS:
            for model, limit in MODELS:
                out = RESULTS / "runs" / name / model
                if out.exists():
                    shutil.rmtree(out)  # a fresh run: the benchmark above was just rebuilt
                _say(f"running {model} on {name}" + (f" (first {limit} questions)" if limit else ""))
                run(RunSpec(model=model, benchmark=str(built_benchmark_dir(name, RESULTS)), out=out,
                            data_dir=data_dir, results=RESULTS, limit=limit), progress=_progress(model))
        written = write_leaderboard(RESULTS / "runs", RESULTS, log=lambda note: _say(f"note: {note}"))
        for path in written:
            if path.suffix != ".png":
                _say(f"wrote {path}")
        _say(f"wrote {sum(p.suffix == '.png' for p in written)} figures in {RESULTS / FIGURES_DIR}")
    except ActbenchError as error:
        print(f"actbench: error: {error}", file=sys.stderr)
        return error.exit_code
    measured = (RESULTS / "leaderboard.md").read_text().split("## Reported in the papers")[0]
    # The terminal shows the tables; the figures are in leaderboard.html (and linked from the Markdown).
    shown = re.sub(r"### Figures\n\n(!\[[^\n]*\n\n?)+", "", measured)
    print(shown.rstrip() + "\n\n(figures: results/leaderboard.html; the papers' published numbers follow in "
          "results/leaderboard.md)\n")
    _say(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
