"""Accuracy per difficulty level per model (LLaVAction Table 8) and its psychometric curves.

For each benchmark with complete difficulty ratings (see difficulty_ratings.py) and each rater, a table of
finished runs on that very build (same manifest hash) by level: accuracy in percent with its seeded
bootstrap interval (the run's seed), the questions per level in the header; and a PNG of accuracy
against level, one line per model. Questions the rater could not rate are left out of every level and
counted. As in ``metrics.json``, a question counts as correct only when its answer is ``ok`` and the key's
letter; unanswered questions count as wrong; rotated askings (``--permutations``) are not used.

>>> import numpy as np
>>> rows = accuracy_by_level(np.array([1, 1, 2, 4, 0]), np.array([True, False, True, False, True]), seed=0)
>>> [(r["level"], r["n"], r["accuracy"]) for r in rows]
[(1, 2, 50.0), (2, 1, 100.0), (3, 0, nan), (4, 1, 0.0)]
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from actbench.atomic import atomic_write_bytes
from actbench.errors import ActbenchError
from actbench.evaluators.mqa_accuracy import accuracy, bootstrap_interval
from actbench.journal import Journal, answer_from_record
from actbench.mqa_builder.benchmark_dir import Benchmark, load_benchmark
from actbench.reports.difficulty_raters import LEVEL_NAMES, LEVELS, RATING_STATUSES
from actbench.reports.difficulty_ratings import Ratings, find_ratings
from actbench.runner import PREDICTIONS, RUN_JSON, RunInfo

DPI = 100
PNG_METADATA = {"Software": None}  # no matplotlib version in the file: the same inputs give the same bytes


def accuracy_by_level(levels: np.ndarray, correct: np.ndarray, *, seed: int, resamples: int = 10_000) -> list[dict]:
    """Per level 1-4: ``n``, ``correct``, ``accuracy`` (percent, NaN when n is 0) and ``ci95``; questions of
    level 0 (unrated) are left out."""
    levels, correct = np.asarray(levels, dtype=np.int64), np.asarray(correct, dtype=bool)
    if levels.shape != correct.shape:
        raise ValueError(f"levels {levels.shape} and correct {correct.shape} differ in shape")
    rows = []
    for level in LEVELS:
        hits = correct[levels == level]
        low, high = bootstrap_interval(hits, seed=seed, resamples=resamples)
        rows.append({"level": level, "n": int(hits.size), "correct": int(hits.sum()),
                     "accuracy": round(accuracy(hits), 6), "ci95": [low, high]})
    return rows


@dataclass(frozen=True)
class RunOutcome:
    """A finished run on one benchmark build: which questions it was asked and which it got right."""

    label: str
    run_dir: Path
    seed: int
    identity: str
    finished_at: str
    question_ids: tuple[str, ...]
    correct: np.ndarray


def read_run(run_dir: Path, bench: Benchmark) -> RunOutcome | None:
    """The run's outcome, or None when it is unfinished or was made on another build of the benchmark."""
    info_path = Path(run_dir) / RUN_JSON
    if not info_path.is_file():
        return None
    try:
        info = RunInfo.model_validate_json(info_path.read_bytes())
    except ValidationError as error:
        raise ActbenchError.from_validation(info_path, error, "run.json") from None
    if info.status != "complete" or info.benchmark.get("manifest_sha256") != bench.manifest_sha256:
        return None
    questions = bench.questions[: info.limit] if info.limit else bench.questions
    wanted = {q.id for q in questions}
    answers = {}
    journal = Journal(Path(run_dir) / PREDICTIONS)
    for number, record in enumerate(journal.read(), start=1):
        if record.get("id") in wanted:  # rotated askings have ids of their own
            answers[record["id"]] = answer_from_record(record, f"{journal.path}:{number}")
    correct = np.array([q.answer_letter is not None and q.id in answers and answers[q.id].status == "ok"
                        and answers[q.id].answer == q.answer_letter for q in questions], dtype=bool)
    label = info.model["name"]
    if info.limit is not None:
        label += f" (first {info.limit})"
    if info.permutations:
        label += f" (+{info.permutations} rotations)"
    if getattr(info, "sap", False):
        label += " (SAP)"
    identity = json.dumps([info.model, info.seed, info.limit, info.permutations, getattr(info, "sap", False)],
                          sort_keys=True)
    return RunOutcome(label, Path(run_dir), info.seed, identity, info.finished_at or "",
                      tuple(q.id for q in questions), correct)


def _latest(outcomes: list[RunOutcome]) -> list[RunOutcome]:
    """One outcome per run identity (the last finished, as the leaderboard does); same labels told apart."""
    latest: dict[str, RunOutcome] = {}
    for o in sorted(outcomes, key=lambda o: (o.finished_at, str(o.run_dir))):
        latest[o.identity] = o
    kept = sorted(latest.values(), key=lambda o: (o.label, str(o.run_dir)))
    clashes = {o.label for o in kept if sum(p.label == o.label for p in kept) > 1}
    return [replace(o, label=f"{o.label} [{o.run_dir.name}]") if o.label in clashes else o for o in kept]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "benchmark"


def _cell(row: dict, header_n: int) -> str:
    if row["n"] == 0:
        return "–"
    low, high = row["ci95"]
    text = f"{row['accuracy']:.1f} [{low:.1f}, {high:.1f}]"
    return text + (f" (n={row['n']})" if row["n"] != header_n else "")


def difficulty_table(bench: Benchmark, ratings: Ratings, outcomes: Sequence[RunOutcome],
                     png_name: str | None) -> tuple[str, dict[str, list[dict]]]:
    """The Markdown of one benchmark x rater, and the curves (per model label, the rows of each level)."""
    levels = ratings.level_array(bench.questions)
    header_n = [int((levels == level).sum()) for level in LEVELS]
    where = {q.id: i for i, q in enumerate(bench.questions)}
    curves = {}
    for o in outcomes:
        run_levels = levels[[where[qid] for qid in o.question_ids]]
        curves[o.label] = accuracy_by_level(run_levels, o.correct, seed=o.seed)
    unrated = {s: ratings.meta.counts.get(s, 0) for s in RATING_STATUSES[1:] if ratings.meta.counts.get(s, 0)}
    unrated_text = (", ".join(f"{n} {s.replace('_', ' ')}" for s, n in unrated.items()) if unrated else "none")
    lines = [f"### {bench.name}: accuracy by difficulty level ({ratings.meta.rater_id})", "",
             (f"Rated by {describe_rater(ratings)}. Questions without a rating: {unrated_text}. Accuracy in percent "
             "with its 95% bootstrap interval, 1 = very easy to 4 = hard (LLaVAction Table 8)."), ""]
    if not curves:
        lines.append("No finished run on this build of the benchmark.")
        return "\n".join(lines) + "\n", curves
    lines.append("| model | " + " | ".join(f"{level} {LEVEL_NAMES[level]} (n={n})"
                                            for level, n in zip(LEVELS, header_n)) + " |")
    lines.append("|---|" + "---:|" * len(LEVELS))
    for label, rows in curves.items():
        lines.append(f"| {label} | " + " | ".join(_cell(r, n) for r, n in zip(rows, header_n)) + " |")
    if png_name:
        lines += ["", f"![{bench.name}: accuracy by difficulty level ({ratings.meta.rater_id})]({png_name})"]
    return "\n".join(lines) + "\n", curves


def describe_rater(ratings: Ratings) -> str:
    """The rater in words."""
    args = ratings.meta.args
    if ratings.meta.rater == "embedding":
        cuts = " / ".join(f"{t:.2f}" for t in args["thresholds"])
        return (f"{args['model']['model']} embeddings (the {args['statistic']} cosine similarity of the answer to "
                f"a distractor, levels cut at {cuts})")
    wording = "asking for a number" if args["prompt"] == "paper" else "asking for a letter"
    return f"{args['model']['name']} with LLaVAction's rating prompt (Appendix C.6, {wording})"


def curves_png(title: str, curves: dict[str, list[dict]], counts: Sequence[int]) -> bytes:
    """Accuracy against difficulty level, one line per model with its bootstrap interval as error bars."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):  # a user's matplotlibrc does not change the figure
        fig = Figure(figsize=(6.4, 4.4), dpi=DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for i, (label, rows) in enumerate(curves.items()):
            shown = [r for r in rows if r["n"] and not math.isnan(r["accuracy"])]
            # Models side by side within a level, so that equal accuracies and their bars stay visible.
            x = np.array([r["level"] for r in shown], dtype=float) + 0.04 * (i - (len(curves) - 1) / 2)
            y = np.array([r["accuracy"] for r in shown])
            spread = np.array([[r["accuracy"] - r["ci95"][0], r["ci95"][1] - r["accuracy"]] for r in shown]).T
            ax.errorbar(x, y, yerr=spread.reshape(2, -1), marker="o", capsize=3, label=label)
        ax.set_xticks(list(LEVELS), [f"{level} {LEVEL_NAMES[level]}\nn={n}" for level, n in zip(LEVELS, counts)])
        ax.set_xlim(0.7, 4.3)
        ax.set_ylim(-3, 103)
        ax.set_xlabel("difficulty level")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(title, fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
        return buffer.getvalue()


def _can_plot() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # a module set to None in sys.modules
        return False


def difficulty_section(run_dirs_by_benchmark: dict[str, list[Path]], bench_dirs: dict[str, Path],
                       out_dir: Path) -> tuple[str, list[Path]]:
    """The leaderboard's difficulty section: per benchmark (of ``bench_dirs``) with complete ratings and per
    rater, a table and a PNG written to ``out_dir`` (linked by file name, so the Markdown belongs in
    ``out_dir``). Runs are matched to a build by manifest hash, whichever key lists them. Returns ("", [])
    when no benchmark has ratings. Ratings made for another build of a benchmark are refused."""
    all_runs = sorted({Path(p) for dirs in run_dirs_by_benchmark.values() for p in dirs})
    parts: list[str] = []
    written: list[Path] = []
    plot = _can_plot()
    for name in sorted(bench_dirs):
        bench = load_benchmark(bench_dirs[name])
        rated = find_ratings(bench)
        if not rated:
            continue
        outcomes = _latest([o for p in all_runs if (o := read_run(p, bench)) is not None])
        for ratings in rated:
            png_name = f"difficulty-{_slug(bench.name)}-{ratings.meta.rater_id}.png" if plot and outcomes else None
            text, curves = difficulty_table(bench, ratings, outcomes, png_name)
            parts.append(text)
            if png_name:
                counts = [int((ratings.level_array(bench.questions) == level).sum()) for level in LEVELS]
                path = Path(out_dir) / png_name
                atomic_write_bytes(path, curves_png(f"{bench.name}: accuracy by difficulty "
                                                    f"({ratings.meta.rater_id})", curves, counts))
                written.append(path)
    if not parts:
        return "", []
    return "## Accuracy by difficulty level\n\n" + "\n".join(parts), written
