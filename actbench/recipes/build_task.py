"""A recipe (recipe.py) -> the TrainTask the trainer runs and its TrainConfig.

``task = "oad"`` and ``task = "coin"`` train the Gen / Disc / GAD classifiers (feature_lm.py) on features
in the TeSTra layout or COIN's; ``task = "llavaction-action-token"`` is LLaVAction's model
(action_token_task.py). Data paths come from the recipe's [data] section (``--set data.root=...``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from actbench.errors import ActbenchError
from actbench.recipes.recipe import train_config
from actbench.recipes.variants import variant as make_variant

TASKS = ("oad", "coin", "llavaction-action-token")


def _required(recipe: dict, section: str, key: str, what: str) -> Any:
    value = recipe.get(section, {}).get(key)
    if value in (None, ""):
        raise ActbenchError.bad_value(f"recipe {recipe['name']}", f"{section}.{key}", what,
                                      f"nothing (set it with --set {section}.{key}=...)")
    return value


def model_spec(recipe: dict, *, feature_dim: int, heads: dict[str, list[str]], background: str | None):
    from actbench.recipes.feature_lm import ModelSpec

    m = recipe["model"]
    overrides = {k: m[k] for k in ("lam", "target", "order", "uses_cls") if k in m}
    v = make_variant(m["variant"], **overrides)
    if v.prev_head != "none":
        heads = {**heads, "prev": list(heads["action"])}
    return ModelSpec(backbone=m["backbone"], feature_dim=feature_dim, heads=heads, variant=v.model_dump(),
                     lora_r=m.get("lora_r", 128), lora_alpha=m.get("lora_alpha", 256),
                     lora_dropout=m.get("lora_dropout", 0.05), codec_seed=m.get("codec_seed", 0),
                     background=background, dtype=m.get("dtype", "float32"))


def _stages(recipe: dict, cfg) -> list[tuple[str, int]]:
    v = make_variant(recipe["model"]["variant"])
    if not v.two_stage:
        return [("joint", cfg.epochs)]
    first = int(recipe["model"].get("stage1_epochs", max(1, cfg.epochs // 2)))
    if not 0 < first < cfg.epochs:
        raise ActbenchError.bad_value(f"recipe {recipe['name']}", "model.stage1_epochs",
                                      f"between 1 and train.epochs - 1 = {cfg.epochs - 1}", first)
    return [("gen", first), ("head", cfg.epochs - first)]


def task_from_recipe(recipe: dict[str, Any]):
    """(task, TrainConfig) for ``recipe``."""
    kind = recipe.get("task")
    if kind not in TASKS:
        raise ActbenchError.bad_value(f"recipe {recipe.get('name')}", "task", f"one of {', '.join(TASKS)}", kind)
    if kind == "llavaction-action-token":
        from actbench.recipes.action_token_task import ActionTokenTask

        return ActionTokenTask.from_recipe(recipe), train_config(recipe)
    cfg = train_config(recipe)
    from actbench.recipes.feature_lm import build_model, load_model

    if kind == "oad":
        from actbench.datasets.oad_layout import OadDataset
        from actbench.recipes.oad_task import OadSamples, OadTask

        dataset = OadDataset.open(_required(recipe, "data", "root", "a folder in the TeSTra layout"))
        videos = dataset.info.videos(recipe["data"].get("train_split", "train_session_set"))
        first = dataset.features(videos[0])
        spec = model_spec(recipe, feature_dim=first.shape[-1], heads={"action": list(dataset.info.class_names)},
                          background=dataset.info.class_names[0])
        samples = OadSamples(dataset, recipe_window(recipe), _variant_of(spec),
                             background_weight=float(recipe["data"].get("background_weight", 1.0)))
        return OadTask(samples, videos=videos, micro_batch=cfg.micro_batch,
                       build=lambda: build_model(spec, seed=cfg.seed), load=load_model,
                       stages=_stages(recipe, cfg)), cfg
    from actbench.datasets.coin import CoinDataset
    from actbench.recipes.coin_task import CoinSamples, CoinTask

    data = recipe["data"]
    dataset = CoinDataset.from_files(_required(recipe, "data", "coin_json", "the path of coin.json"),
                                     _required(recipe, "data", "features", "the folder of per-video features"))
    probe = CoinSamples(dataset, variant_kind="disc", tokens_per_frame=int(data.get("tokens_per_frame", 10)))
    feature_dim = dataset.features(probe.items("training")[0]).shape[-1]
    spec = model_spec(recipe, feature_dim=feature_dim, heads=probe.heads(), background=None)
    samples = CoinSamples(dataset, variant_kind=_variant_of(spec).kind,
                          tokens_per_frame=int(data.get("tokens_per_frame", 10)),
                          max_frames=int(data.get("max_frames", 128)))
    return CoinTask(samples, micro_batch=cfg.micro_batch, build=lambda: build_model(spec, seed=cfg.seed),
                    load=load_model, stages=_stages(recipe, cfg)), cfg


def recipe_window(recipe: dict, dataset: str | None = None):
    """The OAD window of a recipe: the dataset's (Tab. 9) unless [data] sets long_frames / short_frames."""
    from dataclasses import replace

    from actbench.datasets.oad_layout import window_spec

    data = recipe.get("data", {})
    spec = window_spec(dataset or data["dataset"])
    for key in ("long_frames", "short_frames"):
        value = data.get(key, getattr(spec, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "short_frames" else 0):
            raise ActbenchError.bad_value(f"recipe {recipe.get('name')}", f"data.{key}", "a whole number of frames",
                                          value)
        spec = replace(spec, **{key: value})
    return spec


def _variant_of(spec):
    from actbench.recipes.variants import Variant

    return Variant(**spec.variant)


def describe(recipe: dict, cfg) -> dict:
    return {"recipe": recipe["name"], "task": recipe["task"], "train": asdict(cfg)}


def default_out(recipe: dict) -> Path:
    return Path("results") / "train" / recipe["name"]
