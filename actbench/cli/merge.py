"""``actbench merge RUN_DIR... --out DIR``: join the run directories of ``actbench run --shard i/n`` jobs."""

from __future__ import annotations

from pathlib import Path
import typer

from actbench.cli.common import user_errors


@user_errors
def merge(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR", help="The shards' run directories (any order)."),
    out: Path = typer.Option(..., help="The merged run directory (new or empty)."),
    benchmark: str | None = typer.Option(None, help="The benchmark directory or built card name (default: "
                                                       "the name in the shards' run.json, under --results)."),
    results: Path = typer.Option(Path("results"), help="Where built benchmarks are looked up by name."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Merge the finished shards even when some "
                                       "are missing or unfinished (the merged run lists them; not ranked)."),
) -> None:
    """Join shard runs into one run directory that `actbench report` and `compare` read like an unsharded run."""
    import json

    from actbench.runner import METRICS, RUN_JSON
    from actbench.runs.merge import merge as merge_runs

    run_dir = merge_runs(run_dirs, out, benchmark=benchmark, results=results, allow_partial=allow_partial)
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    merged = json.loads((run_dir / RUN_JSON).read_text(encoding="utf-8"))["merged"]
    low, high = metrics["accuracy_ci95"]
    missing = f", shards {', '.join(map(str, merged['missing']))} missing" if merged["missing"] else ""
    typer.echo(f"merged {len(merged['shards'])} of {merged['count']} shards of {metrics['model']} on "
               f"{metrics['benchmark']}{missing}: accuracy {metrics['accuracy']:.2f}% [{low:.2f}, {high:.2f}] over "
               f"{metrics['n']} questions -> {run_dir}")
