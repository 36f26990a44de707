"""``actbench data fetch DATASET`` and ``actbench data where``: get the official annotation files.

::

    actbench data fetch epic-kitchens-100 [--data-dir DIR] [--mirror URL] [--force]
    actbench data check coin [--data-dir DIR]
    actbench data where [--data-dir DIR]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from actbench.cli.common import user_errors
from actbench.datasets.location import resolve_data_dir
from actbench.datasets.official_files import GITHUB_RAW, known_datasets, official_dataset

app = typer.Typer(
    help="Download the official annotation files (verified by sha256) and show where they live.",
    no_args_is_help=True,
)

DataDirOption = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Data directory (default: $ACTBENCH_DATA_DIR, else the per-user cache)."),
]


@app.command("fetch")
@user_errors
def fetch_command(
    dataset: Annotated[str, typer.Argument(help=f"Dataset to fetch: {', '.join(known_datasets())}.")],
    data_dir: DataDirOption = None,
    mirror: Annotated[Optional[str], typer.Option(
        "--mirror", help=f"Base URL standing in for {GITHUB_RAW} (default: $ACTBENCH_FETCH_MIRROR)."
    )] = None,
    force: Annotated[bool, typer.Option("--force", help="Download even files that are already correct.")] = False,
) -> None:
    """Download DATASET's official files into the data directory; files already correct are kept."""
    from actbench.datasets.fetch import FetchEvent, fetch

    table = official_dataset(dataset)
    counts = {"present": 0, "fetched": 0, "replaced": 0}

    def report(event: FetchEvent) -> None:
        counts[event.status] += 1
        pinned = event.file.pinned
        if event.status == "present":
            typer.echo(f"present   {event.path} ({'sha256 ok' if pinned else 'kept; checked below'})")
        else:
            what = f"{event.file.size:,} bytes" if pinned else "not pinned: checked by the format validation below"
            typer.echo(f"{event.status:<9} {event.path} ({what} from {event.url})")

    paths = fetch(table.name, data_dir, mirror=mirror, force=force, progress=report)
    downloaded = counts["fetched"] + counts["replaced"]
    typer.echo(f"{table.name}: {len(paths)} files in {resolve_data_dir(data_dir) / table.name} "
               f"({downloaded} downloaded, {counts['present']} already present)")
    typer.echo(f"license: {table.license}")
    _echo_check(table.name, data_dir)


def _echo_check(name: str, data_dir) -> None:
    from actbench.datasets.check import check_dataset

    done = check_dataset(name, data_dir)
    splits = ", ".join(f"{split} {n:,} segments" for split, n in done.segments.items())
    absent = f"; absent: {', '.join(done.missing)}" if done.missing else ""
    typer.echo(f"{name}: valid ({splits}; {done.classes:,} classes{absent})")


@app.command("check")
@user_errors
def check_command(
    dataset: Annotated[str, typer.Argument(help="Dataset whose files to validate (a name, or csv:NAME).")],
    data_dir: DataDirOption = None,
) -> None:
    """Validate DATASET's annotation files in the data directory (every split present, every field)."""
    _echo_check(dataset, data_dir)


@app.command("where")
@user_errors
def where_command(data_dir: DataDirOption = None) -> None:
    """Print the data directory in use (--data-dir, else $ACTBENCH_DATA_DIR, else the per-user cache)."""
    typer.echo(str(resolve_data_dir(data_dir)))
