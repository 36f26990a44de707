"""``actbench report``: the leaderboard of every finished run below a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from actbench.cli.common import user_errors


@user_errors
def report(
    results_dir: Path = typer.Argument(Path("results"), help="Folder holding run directories."),
    format: List[str] = typer.Option(["md", "csv"], "--format", help="md and/or csv (repeatable)."),
    out: Optional[Path] = typer.Option(None, help="Where to write leaderboard.* (default RESULTS_DIR)."),
) -> None:
    """Write leaderboard.md / leaderboard.csv: one row per model x benchmark."""
    from actbench.reports.leaderboard import write_leaderboard

    for path in write_leaderboard(results_dir, out, tuple(format)):
        typer.echo(f"wrote {path}")
