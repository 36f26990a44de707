"""The leaderboard's figures as PNG bytes (matplotlib, Agg, no pyplot and no global state).

matplotlib is imported inside the functions: the core report (Markdown, CSV) works without it, and
:func:`available` says whether figures can be drawn. Every figure is drawn with matplotlib's default
style (a user's matplotlibrc does not change it), at a fixed size and dpi, and saved without the
"Software" text chunk that carries matplotlib's version, so the same inputs give byte-identical PNGs
with the same matplotlib and FreeType (tested); another matplotlib version may place pixels differently.

>>> png = accuracy_latency_png("demo", [("random", 0.0001, 20.0, 15.0, 25.0)]) if available() else b"\\x89PNG"
>>> png[:4]
b'\\x89PNG'
"""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from actbench.reports.error_diversity import frequent_verbs, has_verb_noun_classes, verb_confusion, verb_names

DPI = 100
PNG_METADATA = {"Software": None}  # no version string: identical bytes from identical inputs
KEY_LABEL = "answer key"


def available() -> bool:
    """Whether matplotlib can be imported (figures are skipped without it)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # a module set to None in sys.modules (how tests hide it)
        return False


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buffer.getvalue()


def _style():
    import matplotlib.style

    return matplotlib.style.context("default")


def letter_distribution_png(benchmark: str, letters: Sequence[str], models: Sequence[tuple[str, Sequence[float]]],
                            key: Sequence[float]) -> bytes:
    """Grouped bars: for each letter, the percent of each model's ``ok`` answers that chose it, and the
    percent of questions whose key it is (a model without position bias follows the key's bars)."""
    with _style():
        fig = _figure(max(6.0, 1.1 * len(letters) + 3.0), 4.0)
        ax = fig.add_subplot()
        series = [*models, (KEY_LABEL, key)]
        width = 0.8 / len(series)
        x = np.arange(len(letters))
        for i, (label, shares) in enumerate(series):
            hatch = "//" if label == KEY_LABEL else None
            ax.bar(x + (i - (len(series) - 1) / 2) * width, shares, width, label=label, hatch=hatch,
                   color="white" if hatch else None, edgecolor="black" if hatch else None)
        ax.set_xticks(x, list(letters))
        ax.set_xlabel("chosen letter")
        ax.set_ylabel("% of answers")
        ax.set_title(f"{benchmark}: chosen letters")
        ax.legend(fontsize="small", ncols=2 if len(series) > 6 else 1)
        fig.tight_layout()
        return _png(fig)


def accuracy_latency_png(benchmark: str, points: Sequence[tuple[str, float, float, float, float]]) -> bytes:
    """Accuracy (with its 95% interval) against median latency per question, one point per row.

    ``points``: (label, latency p50 in s, accuracy, CI low, CI high). Latencies span microseconds
    (baselines) to seconds (API models), so the axis is logarithmic, linear below the smallest
    positive latency so that 0 (an oracle) still has a place.
    """
    with _style():
        fig = _figure(6.5, 4.5)
        ax = fig.add_subplot()
        positive = [p[1] for p in points if p[1] > 0]
        ax.set_xscale("symlog", linthresh=min(positive) if positive else 1e-6)
        for label, latency, acc, low, high in points:
            ax.errorbar([latency], [acc], yerr=[[acc - low], [high - acc]], fmt="o", capsize=3)
            ax.annotate(label, (latency, acc), textcoords="offset points", xytext=(5, 5), fontsize="small")
        ax.set_xlabel("latency p50 per question (s)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(-2, 105)
        ax.set_title(f"{benchmark}: accuracy vs latency")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        return _png(fig)


def confusion_png(title: str, labels: Sequence[str], counts: np.ndarray, *, xlabel: str, ylabel: str) -> bytes:
    """A heat map of row-normalised counts (each true class's choices in percent), counts in the cells."""
    counts = np.asarray(counts, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(100.0 * counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = max(4.5, 0.32 * len(labels) + 2.5)
    with _style():
        fig = _figure(size + 1.0, size)
        ax = fig.add_subplot()
        # pcolormesh, not imshow: a few hundred cells draw as quads, without resampling an image
        mesh = ax.pcolormesh(shares, cmap="Blues", vmin=0, vmax=100)
        ax.set_xlim(0, len(labels))
        ax.set_ylim(len(labels), 0)  # the first (commonest) verb on top, as in a table
        ax.set_aspect("equal")
        ticks = np.arange(len(labels)) + 0.5
        ax.set_xticks(ticks, list(labels), rotation=90, fontsize="small")
        ax.set_yticks(ticks, list(labels), fontsize="small")
        for (i, j), n in np.ndenumerate(counts):
            if n:
                ax.text(j + 0.5, i + 0.5, str(n), ha="center", va="center", fontsize="x-small",
                        color="white" if shares[i, j] > 60 else "black")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize="small")
        fig.colorbar(mesh, ax=ax, label="% of the row", shrink=0.8)
        fig.tight_layout()
        return _png(fig)


# --- the leaderboard's figures -------------------------------------------------------------------------

TOP_VERBS = 15  # rows and columns of a verb confusion heat map


@dataclass(frozen=True)
class FigureFile:
    name: str  # file name under the figures folder
    title: str  # alt text and caption
    benchmark: str | None  # the leaderboard group it belongs to (None: another section's)
    png: bytes


def slug(text: str) -> str:
    """A file-name-safe form of a benchmark or model label.

    >>> slug("gpt-4o [temperature=0.2] (first 300)")
    'gpt-4o-temperature-0.2-first-300'
    """
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.") or "x"


def _unique(name: str, taken: set[str]) -> str:
    stem, number = name, 2
    while name in taken:
        name = f"{stem}-{number}"
        number += 1
    taken.add(name)
    return name


def _shares(pairs: Sequence[tuple[str, int]], letters: Sequence[str]) -> list[float]:
    counts = dict(pairs)
    total = sum(counts.values())
    return [100.0 * counts.get(k, 0) / total if total else 0.0 for k in letters]


def leaderboard_figures(rows: Sequence, analysis=None, *, top_verbs: int = TOP_VERBS) -> list[FigureFile]:
    """Per benchmark group: chosen letters, accuracy vs latency, and a verb confusion heat map per run
    whose answers were analysed (``rows``: leaderboard rows, grouped and sorted; ``analysis``: per_question)."""
    figures: list[FigureFile] = []
    taken: set[str] = set()
    for benchmark in sorted({r.benchmark for r in rows}):
        group = [r for r in rows if r.benchmark == benchmark]
        stem = slug(benchmark)
        letters = sorted({k for r in group for k, _ in (*r.chosen_letters, *r.answer_letters)})
        if letters:
            key = next((r.answer_letters for r in group if r.answer_letters), ())
            png = letter_distribution_png(benchmark, letters,
                                          [(r.model, _shares(r.chosen_letters, letters)) for r in group],
                                          _shares(key, letters))
            figures.append(FigureFile(_unique(f"letters-{stem}.png", taken), f"{benchmark}: chosen letters",
                                      benchmark, png))
        points = [(r.model, r.latency_p50_s, r.accuracy, r.ci95_low, r.ci95_high) for r in group]
        figures.append(FigureFile(_unique(f"accuracy-latency-{stem}.png", taken),
                                  f"{benchmark}: accuracy vs latency", benchmark,
                                  accuracy_latency_png(benchmark, points)))
        bench = analysis.benchmarks.get(benchmark) if analysis is not None else None
        if bench is None or not has_verb_noun_classes(bench.manifest.dataset):
            continue  # a verb confusion needs "verb:noun" classes (EPIC-KITCHENS)
        verbs = frequent_verbs(bench.questions, top_verbs)
        names = verb_names(bench.questions)
        labels = [f"{v} {names.get(v, '')}".strip() for v in verbs]
        for r in group:
            run = analysis.runs.get(r.run_dir)
            if run is None or run.truth.size == 0:
                continue
            title = f"{benchmark}: {r.model}, verb of the answer vs verb chosen (top {len(verbs)} verbs)"
            png = confusion_png(title, labels, verb_confusion(run.truth, run.chosen, verbs),
                                xlabel="verb of the chosen option", ylabel="verb of the answer")
            figures.append(FigureFile(_unique(f"confusion-verbs-{stem}-{slug(r.model)}.png", taken), title,
                                      benchmark, png))
    return figures
