"""``actbench train``: run a training recipe (Gen / Disc / GAD classifiers, LLaVAction's action token)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from actbench.cli.common import user_errors


@user_errors
def train(
    recipe: str = typer.Option(..., "--recipe", help="VARIANT-BACKBONE-DATASET (e.g. gad-llama3.2-1b-ek100), "
                               "a name in recipes/, or a .toml path; `actbench list recipes` lists them."),
    set_: List[str] = typer.Option([], "--set", help="Override a field: section.key=value (repeatable), "
                                   "e.g. --set data.root=/data/ek100 --set train.epochs=1."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default results/train/RECIPE)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --out."),
    print_only: bool = typer.Option(False, "--print", help="Print the resolved recipe as TOML and stop."),
) -> None:
    """Train a recipe with checkpoints and resume (under `accelerate launch -m actbench train` on several GPUs)."""
    from actbench.recipes.build_task import default_out
    from actbench.recipes.recipe import dumps_toml
    from actbench.recipes.run_recipe import prepare, train_recipe

    resolved = prepare(recipe, set_)
    if print_only:
        typer.echo(dumps_toml(resolved), nl=False)
        return
    target = out or default_out(resolved)

    def progress(record: dict) -> None:
        if record["step"] % 10 == 0:
            parts = " ".join(f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float))
            typer.echo(f"step {record['step']} ({record['stage']}, epoch {record['epoch']}): {parts}", err=True)

    final = train_recipe(resolved, target, resume=resume, progress=progress)
    typer.echo(f"wrote {final}")
