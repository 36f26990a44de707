"""Recipes: a named, complete training setup (data, model, optimisation), as TOML.

Two kinds of recipe names resolve:

- generated ones for the GAD paper, ``VARIANT-BACKBONE-DATASET``, one per dataset x backbone x variant,
  e.g. ``gad-llama3.2-1b-ek100``, ``disc-qwen2.5-0.5b-coin``, ``gen-desync-smollm2-crosstask``, with the
  paper's settings (B.1, Tab. 9): AdamW, lr 1e-4, warmup 0.1, batch 32, 50 epochs (Ego4D 20); COIN 5
  epochs, warmup 0.05, batch 8; background loss weights THUMOS 1.0, CrossTask 0.2, EK100 0.5, Ego4D 0.5;
- files ``recipes/NAME.toml`` in the repository (LLaVAction's action-token model), or any path.

``--set key=value`` overrides one field (``train.epochs=1``, ``data.root=/data/ek100``,
``model.lora_r=16``); values parse as TOML, so numbers and booleans keep their type.

>>> r = resolve_recipe("gad-llama3.2-1b-ek100")
>>> r["task"], r["model"]["backbone"], r["data"]["background_weight"], r["train"]["epochs"]
('oad', 'llama-3.2-1b-instruct', 0.5, 50)
>>> apply_overrides(r, ["train.epochs=2", "data.root='/d'"])["train"]["epochs"]
2
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Iterable

from actbench.errors import ActbenchError
from actbench.recipes.variants import PRESETS
from actbench.registry import suggestion

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"

BACKBONE_SHORT = {
    "llama3.2-1b": "llama-3.2-1b-instruct",
    "llama3-8b": "llama-3-8b-instruct",
    "qwen2.5-0.5b": "qwen2.5-0.5b-instruct",
    "smollm2": "smollm2-135m-instruct",
}

_OAD_TRAIN = {"epochs": 50, "lr": 1e-4, "warmup_ratio": 0.1, "batch_size": 32, "micro_batch": 8}
DATASETS: dict[str, dict[str, Any]] = {
    "thumos": {"task": "oad", "background_weight": 1.0, "train": _OAD_TRAIN},
    "crosstask": {"task": "oad", "background_weight": 0.2, "train": _OAD_TRAIN},
    "ek100": {"task": "oad", "background_weight": 0.5, "train": _OAD_TRAIN},
    "ego4d-goalstep": {"task": "oad", "background_weight": 0.5, "train": {**_OAD_TRAIN, "epochs": 20}},
    "coin": {"task": "coin", "tokens_per_frame": 10,
             "train": {"epochs": 5, "lr": 1e-4, "warmup_ratio": 0.05, "batch_size": 8, "micro_batch": 8}},
}


def _variant_names() -> dict[str, str]:
    return {name.replace("_", "-"): name for name in PRESETS}


def generated_recipe_names() -> list[str]:
    return [f"{v}-{b}-{d}" for d in DATASETS for b in BACKBONE_SHORT for v in _variant_names()]


def _generated(name: str) -> dict[str, Any] | None:
    for dataset in DATASETS:
        if not name.endswith("-" + dataset):
            continue
        head = name[: -len(dataset) - 1]
        for short, backbone in BACKBONE_SHORT.items():
            if head.endswith("-" + short) and head[: -len(short) - 1] in _variant_names():
                preset = _variant_names()[head[: -len(short) - 1]]
                settings = DATASETS[dataset]
                data = {"dataset": dataset, "root": None}
                if settings["task"] == "oad":
                    from actbench.datasets.oad_layout import OAD_WINDOWS

                    window = OAD_WINDOWS[dataset]  # Tab. 9, in frames as the reference script passes them
                    data.update(background_weight=settings["background_weight"], train_split="train_session_set",
                                test_split="test_session_set", long_frames=window.long_frames,
                                short_frames=window.short_frames)
                else:
                    data.update(coin_json=None, features=None, tokens_per_frame=settings["tokens_per_frame"])
                return {"name": name, "task": settings["task"],
                        "model": {"backbone": backbone, "variant": preset, "lora_r": 128, "lora_alpha": 256,
                                  "lora_dropout": 0.05, "dtype": "float32"},
                        "data": data, "train": dict(settings["train"])}
    return None


def available_recipes() -> list[str]:
    files = sorted(p.stem for p in RECIPES_DIR.glob("*.toml")) if RECIPES_DIR.is_dir() else []
    return files + generated_recipe_names()


def resolve_recipe(name_or_path: str) -> dict[str, Any]:
    """The recipe as a dict (``name``, ``task`` and sections)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        return _read(path)
    if (RECIPES_DIR / f"{name_or_path}.toml").is_file():
        return _read(RECIPES_DIR / f"{name_or_path}.toml")
    generated = _generated(name_or_path)
    if generated is None:
        raise ActbenchError(f"unknown recipe {name_or_path!r}{suggestion(name_or_path, available_recipes())}: "
                            f"expected VARIANT-BACKBONE-DATASET (e.g. gad-llama3.2-1b-ek100), a name in "
                            f"recipes/ or a .toml path (see `actbench list recipes`)")
    return generated


def _read(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ActbenchError.bad_value(path, "file", "a recipe TOML file", "no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ActbenchError.bad_value(path, "toml", "valid TOML", str(error)) from None
    for key in ("name", "task"):
        if not isinstance(data.get(key), str):
            raise ActbenchError.bad_value(path, key, "a string", data.get(key, "missing"))
    return data


def apply_overrides(recipe: dict[str, Any], assignments: Iterable[str]) -> dict[str, Any]:
    """A copy of ``recipe`` with each ``section.key=value`` set (the section and key must exist)."""
    out = copy.deepcopy(recipe)
    for text in assignments:
        key, sep, raw = text.partition("=")
        if not sep or "." not in key:
            raise ActbenchError.bad_value("--set", key or text, "section.key=value (e.g. train.epochs=1)", text)
        section, field = key.strip().split(".", 1)
        if section not in out or not isinstance(out[section], dict):
            raise ActbenchError.bad_value("--set", key, f"a section of the recipe ({', '.join(_sections(out))})",
                                          section)
        if field not in out[section] and not (section == "train" and field in _train_fields()):
            raise ActbenchError.bad_value("--set", key, f"a field of [{section}] "
                                          f"({', '.join(sorted(out[section]))})", field)
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()  # a bare word: a string
        out[section][field] = value
    return out


def _sections(recipe: dict) -> list[str]:
    return [k for k, v in recipe.items() if isinstance(v, dict)]


def _train_fields() -> set[str]:
    from dataclasses import fields

    from actbench.recipes.trainer import TrainConfig

    return {f.name for f in fields(TrainConfig)}


def train_config(recipe: dict[str, Any]):
    """The [train] section as a TrainConfig (unknown keys refused)."""
    from actbench.recipes.trainer import TrainConfig

    section = dict(recipe.get("train", {}))
    unknown = sorted(set(section) - _train_fields())
    if unknown:
        raise ActbenchError.bad_value(f"recipe {recipe['name']}", f"train.{unknown[0]}",
                                      f"one of {', '.join(sorted(_train_fields()))}", unknown[0])
    return TrainConfig(**section)


def dumps_toml(recipe: dict[str, Any]) -> str:
    """The recipe as TOML (what ``actbench train --print`` shows and what a run saves)."""
    lines = [f"{k} = {_value(v)}" for k, v in recipe.items() if not isinstance(v, dict)]
    for section, values in recipe.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    import json

    return json.dumps(str(v))
