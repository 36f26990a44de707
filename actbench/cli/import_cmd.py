"""``actbench import TOOL FILE``: another tool's results as an actbench run directory.

    actbench import lmms-eval OUT/<model>/<date>_samples_actbench_<benchmark>.jsonl [--benchmark DIR|NAME]
                              [--results results] [--out DIR] [--model NAME]

The run then appears in ``actbench report`` and can be paired with ``actbench compare``
(see :mod:`actbench.importers`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from actbench.cli.common import user_errors

app = typer.Typer(help="Import other tools' results as actbench run directories.", no_args_is_help=True)


@app.command("lmms-eval")
@user_errors
def lmms_eval(
    samples: Path = typer.Argument(..., help="lmms-eval's --log_samples file (<date>_samples_<task>.jsonl) of a task "
                                             "written by `actbench export --format lmms-eval`."),
    benchmark: str | None = typer.Option(None, help="The benchmark directory (or built card name); default: "
                                                       "the name recorded in the samples. Its hash must match."),
    results: Path = typer.Option(Path("results"), help="Where built cards are looked up and runs are written."),
    out: Path | None = typer.Option(None, help="The run directory to write (new or empty); default: "
                                                  "RESULTS/runs/<benchmark>/lmms-eval-<model>."),
    model: str | None = typer.Option(None, help="The model's name (default: from lmms-eval's <date>_results.json "
                                                   "beside the samples file)."),
) -> None:
    """Turn an lmms-eval samples file into a run directory, every reply parsed by actbench's parser."""
    import json

    from actbench.importers.lmms_eval import import_lmms_eval
    from actbench.runner import METRICS

    run_dir = import_lmms_eval(samples, benchmark=benchmark, results=results, out=out, model=model)
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    typer.echo(f"imported {metrics['n']} answers of {metrics['model']} on {metrics['benchmark']} to {run_dir}: "
               f"accuracy {metrics['accuracy']:.2f}")
