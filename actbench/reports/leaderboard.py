"""The leaderboard: one row per model x benchmark, built from run directories alone (no model needed).

Rows are grouped by benchmark and sorted by accuracy, best first (ties by model name). A row is one
model (name and arguments) on one benchmark (name and manifest hash) with one seed, limit and rotation
count; a smoke run with ``--limit`` or another seed is a row of its own. Only when several run
directories hold exactly the same run is the most recently finished one used, the others listed as
superseded. Model arguments and limits show in the model column; a benchmark name built twice with
different contents gets its manifest hash appended.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from actbench.atomic import atomic_write_text
from actbench.errors import ActbenchError
from actbench.reports.reported import REPORTED_DIR, reported_section
from actbench.runner import METRICS, RUN_JSON, RunInfo

COLUMNS = ("benchmark", "model", "n", "accuracy", "ci95_low", "ci95_high", "parse_fail", "refused", "error",
           "latency_p50_s", "cost_usd", "run_dir", "model_args")


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


def _read_run(run_dir: Path, root: Path) -> Row | None:
    info_path, metrics_path = run_dir / RUN_JSON, run_dir / METRICS
    try:
        info = RunInfo.model_validate_json(info_path.read_bytes())
    except ValidationError as error:
        raise ActbenchError.from_validation(info_path, error, "run.json") from None
    if info.status != "complete" or not metrics_path.is_file():
        return None  # an unfinished run has no score yet
    try:
        m = json.loads(metrics_path.read_text(encoding="utf-8"))
        status = m["status_counts"]
        return Row(info.benchmark["name"], _model_label(info), int(m["n"]), float(m["accuracy"]),
                   float(m["accuracy_ci95"][0]), float(m["accuracy_ci95"][1]), int(status["parse_fail"]),
                   int(status["refused"]), int(status["error"]) + int(status.get("missing", 0)),
                   float(m["latency_s"]["p50"]), float(m["cost_usd"]),
                   run_dir.relative_to(root).as_posix(), info.finished_at or "",
                   json.dumps([info.benchmark, info.model, info.seed, info.limit, info.permutations],
                              sort_keys=True),
                   str(info.benchmark.get("manifest_sha256", "")),
                   json.dumps(info.model.get("args", {}), sort_keys=True))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ActbenchError.bad_value(metrics_path, str(error).strip("'"), "the fields of metrics.json",
                                      "missing or malformed") from None


def _model_label(info: RunInfo) -> str:
    label = info.model["name"]
    if info.limit is not None:
        label += f" (first {info.limit})"
    if info.permutations:
        label += f" (+{info.permutations} rotations)"
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
    board.sort(key=lambda r: (r.benchmark, -r.accuracy, r.model, r.run_dir))
    return board, superseded


def _cells(row: Row) -> list[str]:
    return [row.benchmark, row.model, str(row.n), f"{row.accuracy:.2f}", f"{row.ci95_low:.2f}",
            f"{row.ci95_high:.2f}", str(row.parse_fail), str(row.refused), str(row.error),
            f"{row.latency_p50_s:.6f}", f"{row.cost_usd:.4f}", row.run_dir, row.model_args]


def render_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(r) for r in rows)
    return buffer.getvalue()


def render_markdown(rows: list[Row], superseded: list[Row] = ()) -> str:
    lines = ["# Leaderboard", "",
             "Accuracy in percent with its 95% bootstrap interval; parse failures, refusals and errors "
             "count as wrong and are listed apart.", ""]
    for benchmark in sorted({r.benchmark for r in rows}):
        lines += [f"## {benchmark}", "",
                  "| rank | model | n | accuracy | 95% CI | parse fail | refused | error | latency p50 (s) | cost (USD) |",
                  "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|"]
        for rank, r in enumerate((r for r in rows if r.benchmark == benchmark), start=1):
            lines.append(f"| {rank} | {r.model} | {r.n} | {r.accuracy:.2f} | [{r.ci95_low:.2f}, {r.ci95_high:.2f}] "
                         f"| {r.parse_fail} | {r.refused} | {r.error} | {r.latency_p50_s:.6f} | {r.cost_usd:.4f} |")
        lines.append("")
    if superseded:
        lines += ["Superseded runs (a newer run of the same model and benchmark is shown): "
                  + ", ".join(r.run_dir for r in superseded), ""]
    return "\n".join(lines)


def write_leaderboard(results: Path, out: Path | None = None, formats: tuple[str, ...] = ("md", "csv"),
                      reported_dir: Path | None = REPORTED_DIR) -> list[Path]:
    """leaderboard.md (measured rows, then the papers' published numbers in a section of their own) and
    leaderboard.csv (measured rows only)."""
    unknown = [f for f in formats if f not in ("md", "csv")]
    if unknown:
        raise ActbenchError.bad_value("--format", "format", "md or csv", unknown[0])
    rows, superseded = collect(results)
    if not rows:
        raise ActbenchError(f"{results}: no finished run directories (run.json + metrics.json) found")
    out = Path(out) if out is not None else Path(results)
    if out.exists() and not out.is_dir():
        raise ActbenchError(f"{out}: exists and is not a directory (--out)")
    written = []
    for fmt in formats:
        path = out / f"leaderboard.{fmt}"
        if fmt == "md":
            text = render_markdown(rows, superseded)
            if reported_dir is not None:
                text += reported_section(reported_dir)  # never mixed with the measured rows above
        else:
            text = render_csv(rows)
        atomic_write_text(path, text)
        written.append(path)
    return written
