"""``actbench list``: the registered benchmarks, sources, models and metrics."""

from __future__ import annotations

import typer

from actbench.cli.common import user_errors


@user_errors
def list_components() -> None:
    """Print what can be named on the command line."""
    from actbench.evaluators.registry import METRICS
    from actbench.model_adapters import MODELS
    from actbench.mqa_builder.cards import load_cards
    from actbench.mqa_builder.sources import SOURCES

    typer.echo("benchmarks:")
    for card in load_cards():
        typer.echo(f"  {card.name:<24} source={card.source} k={card.k} options={card.options} seed={card.seed}")
    for title, registry in (("sources", SOURCES), ("models", MODELS), ("metrics", METRICS)):
        typer.echo(f"{title}:")
        for entry in registry.entries():
            typer.echo(f"  {entry.name:<24} {entry.summary}")
