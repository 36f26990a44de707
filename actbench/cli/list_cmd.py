"""``actbench list``: the registered benchmarks, sources, models and metrics."""

from __future__ import annotations

import typer

from actbench.cli.common import user_errors


@user_errors
def list_components(
    what: str = typer.Argument("all", help="all, or recipes (every training recipe name)."),
) -> None:
    """Print what can be named on the command line."""
    from actbench.recipes.evaluate import CLASSIFIER_MODELS, COIN_BENCHMARKS, OAD_BENCHMARKS
    from actbench.recipes.recipe import DATASETS, RECIPES_DIR, available_recipes

    if what == "recipes":
        for name in available_recipes():
            typer.echo(name)
        return
    from actbench.datasets.registry import DATASETS as ANNOTATED
    from actbench.evaluators.registry import METRICS
    from actbench.model_adapters import MODELS
    from actbench.mqa_builder.cards import load_cards
    from actbench.mqa_builder.sources import SOURCES

    typer.echo("benchmarks:")
    for card in load_cards():
        typer.echo(f"  {card.name:<24} dataset={card.dataset} source={card.source} k={card.k} "
                   f"options={card.options or 'dataset default'} seed={card.seed}")
    for title, registry in (("datasets (build-mqa --dataset)", ANNOTATED), ("sources", SOURCES), ("models", MODELS),
                            ("metrics", METRICS)):
        typer.echo(f"{title}:")
        for entry in registry.entries():
            typer.echo(f"  {entry.name:<24} {entry.summary}")
    typer.echo("classifier benchmarks (actbench run --checkpoint):")
    typer.echo(f"  {', '.join([*OAD_BENCHMARKS, *COIN_BENCHMARKS])}")
    typer.echo("classifier models (Gen / Disc / GAD checkpoints of actbench train):")
    typer.echo(f"  {', '.join(CLASSIFIER_MODELS)}")
    files = sorted(p.stem for p in RECIPES_DIR.glob("*.toml")) if RECIPES_DIR.is_dir() else []
    typer.echo(f"recipes: VARIANT-BACKBONE-DATASET for datasets {', '.join(DATASETS)} "
               f"(`actbench list recipes` prints all), and {', '.join(files) or 'no files'}")
