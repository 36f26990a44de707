"""``actbench train --recipe NAME``: resolve, record and run a recipe in an output folder.

The folder gets ``recipe.toml`` (the resolved recipe, overrides applied) before training starts; a
``--resume`` must name the same recipe, so a resumed run cannot silently change its data or settings
(``train.max_steps`` may differ: it only says where this session stops).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable, Sequence

from actbench.atomic import atomic_write_text
from actbench.errors import ActbenchError
from actbench.recipes.recipe import apply_overrides, dumps_toml, resolve_recipe

RECIPE_FILE = "recipe.toml"
SESSION_ONLY = {("train", "max_steps")}


def _comparable(recipe: dict) -> dict:
    return {s: ({k: v for k, v in vals.items() if (s, k) not in SESSION_ONLY} if isinstance(vals, dict) else vals)
            for s, vals in recipe.items()}


def prepare(name: str, sets: Sequence[str] = ()) -> dict:
    return apply_overrides(resolve_recipe(name), sets)


def train_recipe(recipe: dict, out: Path, *, resume: bool = False,
                 progress: Callable[[dict], None] | None = None) -> Path:
    """Train ``recipe`` into ``out``; returns the final model folder."""
    from actbench.recipes.build_task import task_from_recipe
    from actbench.recipes.trainer import train

    out = Path(out)
    saved = out / RECIPE_FILE
    if resume and saved.is_file():
        before = tomllib.loads(saved.read_text(encoding="utf-8"))
        now = tomllib.loads(dumps_toml(recipe))
        if _comparable(before) != _comparable(now):
            changed = sorted(f"{s}.{k}" for s in now if isinstance(now[s], dict)
                             for k in set(now[s]) | set(before.get(s, {}))
                             if (s, k) not in SESSION_ONLY and now[s].get(k) != before.get(s, {}).get(k))
            raise ActbenchError.bad_value(saved, changed[0] if changed else "recipe",
                                          "the recipe the run started with (resume cannot change it)",
                                          f"a different value now ({', '.join(changed) or 'name or task'})")
    task, cfg = task_from_recipe(recipe)
    out.mkdir(parents=True, exist_ok=True)
    if not saved.is_file():
        atomic_write_text(saved, dumps_toml(recipe))
    return train(task, cfg, out, resume=resume, progress=progress)
