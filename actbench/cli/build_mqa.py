"""``actbench build-mqa``: build a multiple-choice benchmark from annotations and a distractor source."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from actbench.cli.common import user_errors
from actbench.errors import ActbenchError


@user_errors
def build_mqa(
    source: Optional[str] = typer.Option(None, help="Distractor source (see `actbench list`)."),
    dataset: Optional[str] = typer.Option(None, help="Dataset (see `actbench list`, or csv:NAME for "
                                                     "<data dir>/NAME/<split>.csv; default epic-kitchens-100)."),
    benchmark: Optional[str] = typer.Option(None, help="Build a named card from benchmarks/ instead."),
    predictions: Optional[Path] = typer.Option(None, help="The specialist's prediction file."),
    k: Optional[int] = typer.Option(None, help="Options per question (default 5)."),
    options: Optional[str] = typer.Option(None, help="Option text: narration or label (default: narration "
                                                     "where the dataset has descriptions, else label)."),
    seed: Optional[int] = typer.Option(None, help="Seed of every random step (default 0)."),
    split: Optional[str] = typer.Option(None, help="Annotation split (default: the dataset's evaluation split)."),
    limit: Optional[int] = typer.Option(None, help="Keep the first N clips of the split's annotation file."),
    two_stage: bool = typer.Option(False, "--two-stage", help="Options = the source's top-K without inserting "
                                                           "the answer (LLaVAction's two-stage pipeline)."),
    out: Optional[Path] = typer.Option(None, help="Output directory (default results/benchmarks/NAME)."),
    data_dir: Optional[Path] = typer.Option(None, help="Annotation data (default $ACTBENCH_DATA_DIR)."),
) -> None:
    """Build a multiple-choice benchmark directory (manifest.json, questions.jsonl) from a dataset's annotations."""
    from actbench.mqa_builder.build import BuildSpec, build_mqa as build
    from actbench.mqa_builder.cards import get_card
    from actbench.runner import built_benchmark_dir

    given = {"k": k, "options": options, "seed": seed, "split": split, "limit": limit, "dataset": dataset}
    if benchmark is not None:
        if source is not None:
            raise ActbenchError("pass either --source or --benchmark, not both")
        changed = [f"--{key}" for key, value in given.items() if value is not None] + (["--two-stage"] if two_stage else [])
        if changed:
            # A card's name stands for its settings: a variant gets its own name and folder.
            raise ActbenchError(f"--benchmark builds the card as it is written; for other settings "
                                f"({', '.join(changed)}) use --source with --out")
        card = get_card(benchmark)
        spec = BuildSpec.from_card(card, out=out or built_benchmark_dir(card.name), predictions=predictions,
                                   data_dir=data_dir)
    else:
        if source is None:
            raise ActbenchError("pass --source SOURCE or --benchmark NAME (see `actbench list`)")
        if out is None:
            raise ActbenchError("pass --out DIR for the benchmark directory")
        spec = BuildSpec(source=source, out=out, predictions=predictions, data_dir=data_dir, two_stage=two_stage,
                         **{key: value for key, value in given.items() if value is not None})
    target = spec.out
    manifest = build(spec, log=lambda message: typer.echo(message, err=True))
    c = manifest.counts
    typer.echo(f"built {c['questions']} questions in {target} (source {manifest.source}, K={manifest.k}, "
               f"options {manifest.options}, seed {manifest.seed}; skipped distractors: {c['skipped'] or 'none'})")
