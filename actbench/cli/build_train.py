"""``actbench build-train``: LLaVAction's training data (MQA with adversarial distractors, prior actions,
temporal detection, direct prediction, optional captions / QA) from the EPIC-KITCHENS-100 training split."""

from __future__ import annotations

from pathlib import Path

import typer

from actbench.cli.common import user_errors


@user_errors
def build_train(
    source: str = typer.Option(..., help="Distractor source ranking the training clips (see `actbench list`); "
                                         "`random` gives the random-distractor ablation."),
    predictions: Path | None = typer.Option(None, help="The specialist's predictions on the training split."),
    k: int = typer.Option(5, help="Options per multiple-choice question."),
    pool: int | None = typer.Option(None, help="Draw the K-1 distractors from the source's top POOL "
                                                  "(default 10 for K=5, 2.5 x (K-1) otherwise)."),
    delta: float = typer.Option(3.0, help="Temporal-detection padding in seconds."),
    prior_share: float = typer.Option(0.3, help="Share of eligible MQA questions given the two prior actions."),
    seed: int = typer.Option(0, help="Seed of every random step."),
    limit: int | None = typer.Option(None, help="Keep the first N clips of the training split."),
    captions: Path | None = typer.Option(None, help="JSONL of {narration_id, caption}."),
    qa: Path | None = typer.Option(None, help="JSONL of {narration_id, question, answer}."),
    out: Path = typer.Option(..., help="Output directory (train.json, manifest.json)."),
    data_dir: Path | None = typer.Option(None, help="Annotation data (default $ACTBENCH_DATA_DIR)."),
) -> None:
    """Build a LLaVA-style training set (train.json + manifest.json) from the training split."""
    from actbench.training_data.build import TrainSpec
    from actbench.training_data.build import build_train as build

    spec = TrainSpec(source=source, out=out, predictions=predictions, k=k, pool=pool, delta=delta,
                     prior_share=prior_share, seed=seed, limit=limit, captions=captions, qa=qa, data_dir=data_dir)
    manifest = build(spec, log=lambda message: typer.echo(message, err=True))
    tasks = ", ".join(f"{t} {n}" for t, n in manifest["counts"]["tasks"].items() if n)
    typer.echo(f"built {manifest['counts']['records']} training records in {out} ({tasks}; source "
               f"{manifest['source']}, K={manifest['k']} from top {manifest['pool']}, seed {manifest['seed']})")
