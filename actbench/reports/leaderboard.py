"""The leaderboard: one row per model x benchmark, built from run directories alone (no model needed).

Rows are grouped by benchmark and sorted by accuracy, best first (ties by model name); a multi-label
benchmark (Animal Kingdom) is sorted by its Jaccard accuracy (LLaVAction Table 6), shown in a column of
its own (and in a ``jaccard`` CSV column, written when some row has one). A row is one
model (name and arguments) on one benchmark (name and manifest hash) with one seed, limit and rotation
count; a smoke run with ``--limit`` or another seed is a row of its own. Only when several run
directories hold exactly the same run is the most recently finished one used, the others listed as
superseded. Model arguments and limits show in the model column; a benchmark name built twice with
different contents gets its manifest hash appended. A run answering only part of its questions (a shard of
``actbench run --shard``, or a merge with shards missing) is not a row: a note lists it.

Where a run's answers and benchmark can be read (:mod:`actbench.reports.per_question`), each row also
says whether its accuracy differs significantly from the closest higher-ranked row on the same questions,
and how diverse its errors are (:mod:`actbench.reports.error_diversity`); the figures
(:mod:`actbench.reports.plots`) need matplotlib, the Markdown and CSV do not.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from actbench.atomic import StagedDirectory, atomic_write_text
from actbench.errors import ActbenchError
from actbench.reports import plots
from actbench.reports.error_diversity import LEVELS
from actbench.reports.html import render_html
from actbench.reports.per_question import ALPHA, RESAMPLES, Analysis, analyse
from actbench.reports.plots import FigureFile as Figure
from actbench.reports.reported import REPORTED_DIR, reported_section
from actbench.runner import METRICS, RUN_JSON, RunInfo

COLUMNS = ("benchmark", "model", "n", "accuracy", "ci95_low", "ci95_high", "parse_fail", "refused", "error",
           "latency_p50_s", "cost_usd", "run_dir", "model_args", "upper_bound")
# Per-question columns (empty where the run's answers or its benchmark were not found): the row compared
# with, its paired-bootstrap and McNemar p-values, and the error diversity of the answers given.
EXTRA_COLUMNS = ("vs_above_run", "p_vs_above", "mcnemar_p_vs_above", "significant_vs_above", "wrong_answers",
                 "wrong_same_verb_pct", "wrong_same_noun_pct", "wrong_neither_pct", "dscore_action", "dscore_verb",
                 "dscore_noun")
FORMATS = ("md", "csv", "html", "png")
FIGURES_DIR = "leaderboard_figures"
NOT_SIGNIFICANT = "≈"
FIGURES_SKIPPED = "Figures skipped: matplotlib is not installed (pip install 'actbench[plots]')."


@dataclass(frozen=True)
class Row:
    benchmark: str
    model: str
    n: int
    accuracy: float
    ci95_low: float
    ci95_high: float
    parse_fail: int
    refused: int
    error: int
    latency_p50_s: float
    cost_usd: float
    run_dir: str
    finished_at: str
    identity: str  # what makes two run directories the same run
    manifest_sha256: str
    model_args: str  # JSON, sorted keys
    chosen_letters: tuple[tuple[str, int], ...] = ()  # from metrics.json (ok answers per letter)
    answer_letters: tuple[tuple[str, int], ...] = ()  # the key's letters
    # Share of questions with a correct option (%): below 100 on two-stage benchmarks (LLaVAction §3.3),
    # whose options are the specialist's top-K without the ground truth inserted.
    upper_bound: float = 100.0
    jaccard: float | None = None  # multi-label benchmarks: mean Jaccard index of the chosen letters (%)

    @property
    def score(self) -> float:
        """What the rows of a benchmark are ranked by: Jaccard accuracy where there is one, else accuracy."""
        return self.accuracy if self.jaccard is None else self.jaccard


def _read_run(run_dir: Path, root: Path) -> Row | None:
    info_path, metrics_path = run_dir / RUN_JSON, run_dir / METRICS
    try:
        info = RunInfo.model_validate_json(info_path.read_bytes())
    except ValidationError as error:
        raise ActbenchError.from_validation(info_path, error, "run.json") from None
    if info.status != "complete" or not metrics_path.is_file() or info.partial:
        return None  # an unfinished run has no score yet; a part of a run would pass for the whole
    try:
        m = json.loads(metrics_path.read_text(encoding="utf-8"))
        status = m["status_counts"]
        return Row(info.benchmark["name"], _model_label(info), int(m["n"]), float(m["accuracy"]),
                   float(m["accuracy_ci95"][0]), float(m["accuracy_ci95"][1]), int(status["parse_fail"]),
                   int(status["refused"]), int(status["error"]) + int(status.get("missing", 0)),
                   float(m["latency_s"]["p50"]), float(m["cost_usd"]),
                   run_dir.relative_to(root).as_posix(), info.finished_at or "",
                   json.dumps([info.benchmark, info.model, info.seed, info.limit, info.permutations]
                              + ([True] if info.sap else []), sort_keys=True),  # old identities unchanged
                   str(info.benchmark.get("manifest_sha256", "")),
                   json.dumps(info.model.get("args", {}), sort_keys=True),
                   tuple((str(k), int(v)) for k, v in m.get("chosen_letters", {}).items()),
                   tuple((str(k), int(v)) for k, v in m.get("answer_letters", {}).items()),
                   float(m.get("upper_bound", 100.0)),
                   None if m.get("jaccard") is None else float(m["jaccard"]))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ActbenchError.bad_value(metrics_path, str(error).strip("'"), "the fields of metrics.json",
                                      "missing or malformed") from None


def _model_label(info: RunInfo) -> str:
    label = info.model["name"]
    if info.limit is not None:
        label += f" (first {info.limit})"
    if info.permutations:
        label += f" (+{info.permutations} rotations)"
    if info.sap:
        label += " (SAP)"
    return label


def _short_args(model_args: str) -> str:
    args = json.loads(model_args)
    text = ", ".join(f"{k}={v}" for k, v in sorted(args.items()))
    return text if len(text) <= 60 else "args " + hashlib.sha256(model_args.encode()).hexdigest()[:8]


def collect(results: Path) -> tuple[list[Row], list[Row]]:
    """(leaderboard rows, superseded rows) from every run directory below ``results``."""
    results = Path(results)
    if not results.is_dir():
        raise ActbenchError(f"{results}: not a directory (expected a folder of run directories)")
    rows = [r for p in sorted(results.rglob(RUN_JSON)) if (r := _read_run(p.parent, results))]
    latest: dict[str, Row] = {}
    superseded = []
    for row in sorted(rows, key=lambda r: (r.finished_at, r.run_dir)):
        if row.identity in latest:
            superseded.append(latest[row.identity])
        latest[row.identity] = row
    hashes: dict[str, set[str]] = {}
    for row in latest.values():
        hashes.setdefault(row.benchmark, set()).add(row.manifest_sha256)
    board = [replace(r, benchmark=f"{r.benchmark}@{r.manifest_sha256[:8]}") if len(hashes[r.benchmark]) > 1 else r
             for r in latest.values()]
    # The same model with other arguments on the same benchmark: tell the rows apart by their arguments.
    labels: dict[tuple[str, str], set[str]] = {}
    for row in board:
        labels.setdefault((row.benchmark, row.model), set()).add(row.model_args)
    board = [replace(r, model=f"{r.model} [{_short_args(r.model_args)}]") if len(labels[(r.benchmark, r.model)]) > 1
             else r for r in board]
    board.sort(key=lambda r: (r.benchmark, -r.score, r.model, r.run_dir))
    return board, superseded


def partial_runs(results: Path) -> list[str]:
    """Run directories below ``results`` that answer only part of their run's questions (left off the board)."""
    from actbench.runs.ranks import is_rank_part

    found = []
    for path in sorted(Path(results).rglob(RUN_JSON)):
        if is_rank_part(path.parent):
            continue  # one process's part of a launch (runs/ranks.py): the launch's own run.json is the run
        try:
            partial = RunInfo.model_validate_json(path.read_bytes()).partial
        except ValidationError:
            continue  # collect() has already named the file
        if partial:
            found.append(path.parent.relative_to(results).as_posix())
    return found


def _nan_text(value: float, spec: str) -> str:
    return "" if math.isnan(value) else format(value, spec)  # NaN: nothing to show


def _extra_cells(row: Row, analysis: Analysis | None) -> list[str]:
    """The per-question columns (empty where the run's answers or benchmark were not found)."""
    cells = [""] * len(EXTRA_COLUMNS)
    if analysis is None:
        return cells
    comparison = analysis.comparisons.get(row.run_dir)
    if comparison is not None:
        cells[:4] = [comparison.above, f"{comparison.p_bootstrap:.6g}", f"{comparison.p_mcnemar:.6g}",
                     "yes" if comparison.significant else "no"]
    run = analysis.runs.get(row.run_dir)
    if run is not None:
        cells[4:] = [str(run.overlap.total), *(_nan_text(x, ".2f") for x in run.overlap.shares()),
                     *(_nan_text(run.dscore[level], ".4f") for level in LEVELS)]
    return cells


def _cells(row: Row, analysis: Analysis | None = None, jaccard: bool = False) -> list[str]:
    return [row.benchmark, row.model, str(row.n), f"{row.accuracy:.2f}", f"{row.ci95_low:.2f}",
            f"{row.ci95_high:.2f}", str(row.parse_fail), str(row.refused), str(row.error),
            f"{row.latency_p50_s:.6f}", f"{row.cost_usd:.4f}", row.run_dir, row.model_args,
            f"{row.upper_bound:.2f}", *_extra_cells(row, analysis),
            *([] if not jaccard else ["" if row.jaccard is None else f"{row.jaccard:.2f}"])]


def render_csv(rows: list[Row], analysis: Analysis | None = None) -> str:
    jaccard = any(r.jaccard is not None for r in rows)  # the column only where a multi-label run is listed
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS + EXTRA_COLUMNS + (("jaccard",) if jaccard else ()))
    writer.writerows(_cells(r, analysis, jaccard) for r in rows)
    return buffer.getvalue()


def md_cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _versus(row: Row, rank: int, analysis: Analysis | None) -> str:
    if rank == 1:
        return ""
    comparison = analysis.comparisons.get(row.run_dir) if analysis else None
    if comparison is None:
        return "—"
    return _p(comparison.p_value) if comparison.significant else f"{NOT_SIGNIFICANT} ({_p(comparison.p_value)})"


def _significance_note(analysis: Analysis) -> str:
    return (f"vs above: is the accuracy difference from the closest higher-ranked row that answered the same "
            f"question ids significant? p is the larger of two two-sided paired tests over the questions, the paired "
            f"bootstrap ({analysis.resamples} resamples, seed {analysis.seed}) and McNemar's test (both in "
            f"leaderboard.csv); {NOT_SIGNIFICANT} marks a difference not significant at {ALPHA}. Only runs answering "
            "the same question ids are compared; — : no such row above, or the run's answers or benchmark were "
            "not found.")


def _diversity_lines(group: list[Row], analysis: Analysis, benchmark: str) -> list[str]:
    analysed = [r for r in group if r.run_dir in analysis.runs]
    if not analysed:
        return []
    lines = ["### Error diversity", "",
             ("Wrong answers (among answers given) by what the chosen option shares with the answer's class, and "
              "DScore (GAD Appendix B.3: mean entropy in nats of each true class's errors; lower = errors less "
              "spread) over actions, verbs and nouns."), "",
             "| model | wrong | same verb % | same noun % | neither % | DScore action | DScore verb | DScore noun |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in analysed:
        run = analysis.runs[r.run_dir]
        shares = [_nan_text(x, ".1f") or "—" for x in run.overlap.shares()]
        scores = [_nan_text(run.dscore[level], ".3f") or "—" for level in LEVELS]
        lines.append(f"| {md_cell(r.model)} | {run.overlap.total} | {' | '.join(shares)} | {' | '.join(scores)} |")
    mix = analysis.distractors.get(benchmark)
    if mix is not None and mix.total and mix.parts:
        verb, noun, neither = mix.shares()
        lines += ["", (f"Distractors of this benchmark: {verb:.1f}% share the answer's verb, {noun:.1f}% its "
                       f"noun, {neither:.1f}% neither (the mix a model picking wrong options at random would show).")]
    return lines + [""]


def render_markdown(rows: list[Row], superseded: list[Row] = (), analysis: Analysis | None = None,
                    figures: list[Figure] = (), notes: list[str] = ()) -> str:
    """The measured leaderboard; ``figures`` are linked (``leaderboard_figures/NAME``) under their benchmark."""
    lines = ["# Leaderboard", "",
             ("Accuracy in percent with its 95% bootstrap interval; parse failures, refusals and errors "
              "count as wrong and are listed apart."), ""]
    for benchmark in sorted({r.benchmark for r in rows}):
        group = [r for r in rows if r.benchmark == benchmark]
        multi = any(r.jaccard is not None for r in group)
        lines += [f"## {md_cell(benchmark)}", "",
                  (f"| rank | model | n | {'Jaccard | ' if multi else ''}accuracy | 95% CI | vs above | parse fail "
                   "| refused | error | latency p50 (s) | cost (USD) |"),
                  f"|---:|---|---:|{'---:|' if multi else ''}---:|---|---|---:|---:|---:|---:|---:|"]
        for rank, r in enumerate(group, start=1):
            jaccard = "" if not multi else ("— | " if r.jaccard is None else f"{r.jaccard:.2f} | ")
            lines.append(f"| {rank} | {md_cell(r.model)} | {r.n} | {jaccard}{r.accuracy:.2f} | [{r.ci95_low:.2f}, "
                         f"{r.ci95_high:.2f}] | {_versus(r, rank, analysis)} | {r.parse_fail} | {r.refused} | "
                         f"{r.error} | {r.latency_p50_s:.6f} | {r.cost_usd:.4f} |")
        lines.append("")
        if multi:
            lines += [("Multi-label questions: Jaccard is the mean over questions of |chosen ∩ correct| / |chosen ∪ "
                       "correct| letters (LLaVAction Table 6), which ranks the rows; accuracy counts a question "
                       "right only when exactly the correct letters are chosen, and its CI and the tests against "
                       "the row above are on that."), ""]
        bounds = sorted({round(r.upper_bound, 2) for r in group if r.upper_bound < 100.0})
        if bounds:
            lines += [f"Upper bound: the options are the specialist's top-K without the ground truth inserted "
                      f"(two-stage), so only {' / '.join(f'{b:.2f}' for b in bounds)}% of the questions can be "
                      f"answered correctly; accuracy is action top-1 over all clips.", ""]
        if analysis is not None and len(group) > 1 and any(r.run_dir in analysis.runs for r in group):
            lines += [_significance_note(analysis), ""]
        if analysis is not None and not multi:  # error diversity compares one chosen class with one answer
            lines += _diversity_lines(group, analysis, benchmark)
        mine = [f for f in figures if f.benchmark == benchmark]
        if mine:
            lines += ["### Figures", ""]
            lines += [line for f in mine for line in (f"![{md_cell(f.title)}]({FIGURES_DIR}/{f.name})", "")]
    if superseded:
        lines += ["Superseded runs (a newer run of the same model and benchmark is shown): "
                  + ", ".join(r.run_dir for r in superseded), ""]
    if notes:
        lines += ["## Notes", "", *(f"- {md_cell(n)}" for n in notes), ""]
    return "\n".join(lines)


def _difficulty(rows: list[Row], results: Path, analysis: Analysis, out_dir: Path) -> tuple[str, list[Path]]:
    """The difficulty section (accuracy per rated level) when that report module is installed.

    The seam: ``actbench.reports.difficulty_report.difficulty_section`` gives ("", []) when no benchmark has
    ratings; without the module there is no section. Benchmarks whose directory was not found are not passed.
    """
    try:
        from actbench.reports.difficulty_report import difficulty_section
    except ModuleNotFoundError as error:
        if error.name != "actbench.reports.difficulty_report":
            raise
        return "", []
    run_dirs: dict[str, list[Path]] = {}
    for row in rows:
        if row.benchmark in analysis.benchmarks:
            run_dirs.setdefault(row.benchmark, []).append(Path(results) / row.run_dir)
    bench_dirs = {label: b.path for label, b in analysis.benchmarks.items()}
    return difficulty_section(run_dirs, bench_dirs, out_dir) if run_dirs else ("", [])


def _linked(section: str, pngs: list[Path], keep: bool) -> str:
    """The section's image links pointed at the figures folder (or dropped when its PNGs are not kept)."""
    names = {p.name for p in pngs}

    def link(match: re.Match) -> str:
        name = Path(match["src"]).name
        if name not in names:
            return match[0]
        return f"![{match['alt']}]({FIGURES_DIR}/{name})" if keep else ""

    return re.sub(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)", link, section)


def write_leaderboard(results: Path, out: Path | None = None, formats: tuple[str, ...] = FORMATS,
                      reported_dir: Path | None = REPORTED_DIR, *, benchmarks: tuple[Path, ...] = (),
                      seed: int = 0, resamples: int = RESAMPLES, log: Callable[[str], None] | None = None
                      ) -> list[Path]:
    """leaderboard.md (measured rows, then the papers' published numbers in a section of their own),
    leaderboard.csv (measured rows only), leaderboard.html (the Markdown as one self-contained page) and
    the figures as PNG in ``leaderboard_figures/`` (replaced as a whole), as ``formats`` selects.

    ``benchmarks``: more places to look for the runs' benchmark directories; ``seed``: of the paired
    bootstrap between adjacent rows; ``log``: receives one-line notes (figures skipped, ...).
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ActbenchError.bad_value("--format", "format", " or ".join(FORMATS), unknown[0])
    rows, superseded = collect(results)
    if not rows:
        raise ActbenchError(f"{results}: no finished run directories (run.json + metrics.json) found")
    out = Path(out) if out is not None else Path(results)
    if out.exists() and not out.is_dir():
        raise ActbenchError(f"{out}: exists and is not a directory (--out)")
    analysis = analyse(rows, results, roots=benchmarks, seed=seed, resamples=resamples)
    notes = list(analysis.notes)
    parts = partial_runs(results)
    if parts:
        notes.append(f"Not ranked: {len(parts)} run(s) answer only part of their questions (shards; `actbench merge` "
                     f"joins a run's shards into one run): {', '.join(parts)}")
    want_figures = "png" in formats or "html" in formats
    figures = []
    if want_figures and not plots.available():
        notes.append(FIGURES_SKIPPED)
        want_figures = False
    if want_figures:
        figures = plots.leaderboard_figures(rows, analysis)
    with tempfile.TemporaryDirectory(prefix="actbench-difficulty-") as scratch:
        section, pngs = _difficulty(rows, results, analysis, Path(scratch))
        figures += [plots.FigureFile(p.name, p.stem, None, p.read_bytes()) for p in pngs]
    for note in notes:
        if log is not None:
            log(note)
    measured = render_markdown(rows, superseded, analysis, figures, notes)
    reported = reported_section(reported_dir) if reported_dir is not None else ""
    written = []
    for fmt in ("md", "csv", "html"):
        if fmt not in formats:
            continue
        path = out / f"leaderboard.{fmt}"
        if fmt == "md":
            links = figures if "png" in formats else []
            text = render_markdown(rows, superseded, analysis, links, notes)
            text += _join(_linked(section, pngs, "png" in formats), reported)  # reported: never mixed with rows
        elif fmt == "csv":
            text = render_csv(rows, analysis)
        else:
            images = {f"{FIGURES_DIR}/{f.name}": f.png for f in figures}
            text = render_html(measured + _join(_linked(section, pngs, True), reported), images)
        atomic_write_text(path, text)
        written.append(path)
    if "png" in formats and plots.available():
        with StagedDirectory(out / FIGURES_DIR) as staging:
            for figure in figures:
                (staging / figure.name).write_bytes(figure.png)
        written += [out / FIGURES_DIR / f.name for f in figures]
    return written


def _join(*sections: str) -> str:
    """Markdown sections one blank line apart, ending with a newline."""
    return "".join("\n" + s.strip("\n") + "\n" for s in sections if s.strip())
