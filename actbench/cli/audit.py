"""``actbench audit BENCH``: is a built benchmark sound? Writes ``audit.md`` and ``audit.json``.

    actbench audit BENCH [--out DIR] [--no-text-baselines] [--text-baseline MODEL ...]
                   [--text-baseline-limit 500] [--seed 0] [--similarity-threshold 0.9] [--data-dir DIR]

The output folder defaults to ``BENCH_DIR/../<name>-audit``, beside the benchmark and never inside it
(a rebuild of the benchmark refuses files it did not write). The text-only baselines run into
``OUT/runs/MODEL`` and, on a rerun, resume from there. The checks are described in
:mod:`actbench.reports.audit`; embeddings need ``pip install 'actbench[audit]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from actbench.cli.common import user_errors


@user_errors
def audit(
    benchmark: str = typer.Argument(..., help="A benchmark directory, or the name of a built card."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default BENCH_DIR/../<name>-audit)."),
    text_baselines: bool = typer.Option(True, "--text-baselines/--no-text-baselines",
                                        help="Run the text-only baselines (prior, smollm2-135m-blind)."),
    text_baseline: List[str] = typer.Option([], "--text-baseline",
                                            help="Run only this baseline model (repeatable; default prior and "
                                                 "smollm2-135m-blind)."),
    text_baseline_limit: int = typer.Option(500, help="Questions of the seeded subset the slow baseline "
                                                      "(smollm2-135m-blind) answers."),
    seed: int = typer.Option(0, help="Seed of the subset and of the bootstrap intervals."),
    similarity_threshold: float = typer.Option(0.9, help="Cosine similarity from which two options read nearly "
                                                         "the same."),
    data_dir: Optional[Path] = typer.Option(None, help="Annotation data for `prior` (default $ACTBENCH_DATA_DIR)."),
    results: Path = typer.Option(Path("results"), help="Where built cards are looked up."),
) -> None:
    """Audit a benchmark: near-duplicate options, letter balance, length bias, text-only baselines, leakage."""
    from actbench.reports.audit import AUDIT_JSON, AUDIT_MD, TEXT_BASELINES, AuditSpec, audit_benchmark, default_out
    from actbench.runner import resolve_benchmark

    spec = AuditSpec(benchmark=benchmark, out=out, text_baselines=text_baselines,
                     baselines=tuple(text_baseline) or TEXT_BASELINES, text_baseline_limit=text_baseline_limit,
                     seed=seed, similarity_threshold=similarity_threshold, data_dir=data_dir, results=results)
    report = audit_benchmark(spec, progress=lambda message: typer.echo(message, err=True))
    folder = out if out is not None else default_out(resolve_benchmark(benchmark, results))
    for check in report["checks"]:
        typer.echo(f"{check['status']:<7} {check['name']:<15} {check['summary']}")
    typer.echo(f"wrote {folder / AUDIT_MD} and {folder / AUDIT_JSON}")
