"""``actbench report``: the leaderboard of every finished run below a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from actbench.cli.common import user_errors


@user_errors
def report(
    results_dir: Path = typer.Argument(Path("results"), help="Folder holding run directories."),
    format: List[str] = typer.Option(["md", "csv", "html", "png"], "--format",
                                     help="md, csv, html and/or png (repeatable; default all four)."),
    out: Optional[Path] = typer.Option(None, help="Where to write leaderboard.* (default RESULTS_DIR)."),
    benchmarks: List[Path] = typer.Option([], "--benchmarks",
                                          help="A benchmark directory, or a folder of them, to find the runs' "
                                               "answer keys in (repeatable; results/benchmarks is searched anyway)."),
    seed: int = typer.Option(0, help="Seed of the paired bootstrap that marks non-significant differences."),
) -> None:
    """Write leaderboard.md / .csv / .html and leaderboard_figures/*.png: one row per model x benchmark."""
    from actbench.errors import ActbenchError
    from actbench.reports.leaderboard import write_leaderboard

    if seed < 0:
        raise ActbenchError.bad_value("--seed", "seed", "a non-negative integer", seed)
    written = write_leaderboard(results_dir, out, tuple(format), benchmarks=tuple(benchmarks), seed=seed,
                                log=lambda note: typer.echo(f"note: {note}", err=True))
    for path in written:
        if path.suffix != ".png":
            typer.echo(f"wrote {path}")
    figures = [p for p in written if p.suffix == ".png"]
    if figures:
        typer.echo(f"wrote {len(figures)} figures in {figures[0].parent}")
