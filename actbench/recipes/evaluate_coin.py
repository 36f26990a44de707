"""COIN evaluation of a classifier checkpoint: top-1 accuracy of step, next-step and task recognition.

The same multi-task model answers each benchmark's testing samples with the head its query selects.
Generative variants also get the memorization rate (GAD Appendix D): the share of generated outputs
that exactly match a training category.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actbench.datasets.coin import CoinDataset
from actbench.errors import ActbenchError
from actbench.evaluators.dscore import memorization_rate
from actbench.evaluators.latency import ModelTimer
from actbench.recipes.coin_task import CoinSamples
from actbench.recipes.evaluate import COIN_BENCHMARKS, JOURNAL, JournalWriter


def _paths(spec, recipe: dict) -> tuple[Path, Path]:
    data = recipe.get("data", {})
    coin_json = spec.coin_json or data.get("coin_json")
    features = spec.data_root or data.get("features")
    if not coin_json or not features:
        raise ActbenchError.bad_value("--data-root", "COIN data", "--coin-json and --data-root (features folder)",
                                      "none given and no recipe.toml beside the checkpoint names them")
    return Path(coin_json), Path(features)


def evaluate_coin(model, spec, recipe: dict, out: Path, done: dict, progress) -> dict:
    coin_json, features = _paths(spec, recipe)
    dataset = CoinDataset.from_files(coin_json, features)
    samples = CoinSamples(dataset, variant_kind=model.variant.kind,
                          tokens_per_frame=int(recipe.get("data", {}).get("tokens_per_frame", 10)),
                          max_frames=int(recipe.get("data", {}).get("max_frames", 128)))
    if samples.heads() != {k: list(v) for k, v in model.spec.heads.items() if k in ("step", "task")}:
        raise ActbenchError.bad_value(coin_json, "vocabulary", "the step and task names the checkpoint was trained on",
                                      "other names")
    kinds = COIN_BENCHMARKS[spec.benchmark]
    items = samples.items(spec.split or "testing", kinds)[: spec.limit]
    timer = ModelTimer()
    journal = JournalWriter(out / JOURNAL)
    try:
        for start in range(0, len(items), spec.batch_size):
            chunk = [it for it in items[start:start + spec.batch_size] if _key(it) not in done]
            if not chunk:
                continue
            batch = [samples.sample(it) for it in chunk]
            with timer.measure(predictions=len(batch)):
                classes, extra = model.predict(batch, branch=spec.branch)
            for it, c, e in zip(chunk, classes, extra):
                record = {"key": _key(it), "kind": it.kind, "predicted": int(c), "label": it.label_index,
                          "text": e if isinstance(e, str) else None}
                journal.write(record)
                done[record["key"]] = record
            if progress:
                progress(min(start + spec.batch_size, len(items)), len(items))
    finally:
        journal.close()
    metrics: dict = {}
    for kind in kinds:
        records = [done[_key(it)] for it in items if it.kind == kind]
        if records:
            metrics[f"{kind}_top1"] = 100.0 * float(np.mean([r["predicted"] == r["label"] for r in records]))
            metrics[f"{kind}_n"] = len(records)
    texts = [done[_key(it)]["text"] for it in items if done[_key(it)].get("text") is not None]
    if texts:
        train_names = {s.label for kind in kinds for s in dataset.samples(kind, "training")}
        metrics["memorization_rate"] = memorization_rate(texts, train_names)  # percent
    if timer.calls:
        metrics["timing"] = {**timer.summary(), "samples_timed": timer.predictions}
    return metrics


def _key(item) -> str:
    return f"{item.kind}/{item.video_id}/{item.step}"
