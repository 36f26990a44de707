"""Evaluate a trained Gen / Disc / GAD checkpoint: OAD streaming and the COIN benchmarks, with FPS.

``actbench run --model gad-1b --benchmark oad-ek100 --checkpoint DIR`` lands here. The checkpoint folder
(``model.json`` + ``trainable.safetensors``) names its backbone and variant; the registered model name
must agree with them (``gad-1b`` = a GAD variant on Llama-3.2-1B), so a run is never labelled with the
wrong model. The data folder comes from ``--data-root``, else from the ``recipe.toml`` of the training
run the checkpoint belongs to.

OAD: every frame of every test video is predicted from t = 0 with stride 1 (oad_layout.streaming_windows),
``batch_size`` frames per call. COIN: each benchmark's test samples. The run directory holds
``classifier_run.json`` (not ``run.json``: these are not multiple-choice runs), ``predictions.jsonl`` (a
journal, one line per finished video / sample, fsynced; a killed run resumes from it), ``P.json`` and
``G.json`` (OAD, the per-frame labels ``actbench score oad`` reads) and ``metrics.json``: the OAD metrics
(segment / point F1, frame accuracy, DScore) or top-1 per COIN benchmark, with the latency p50 / p95 and
FPS of the model computation alone (evaluators/latency.py), I/O excluded.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from actbench.atomic import atomic_write_json, atomic_write_text, sha256_file
from actbench.errors import ActbenchError
from actbench.registry import suggestion

RUN_FILE, JOURNAL, METRICS = "classifier_run.json", "predictions.jsonl", "metrics.json"

# Registered classifier models: name -> (variant kind, backbone).
CLASSIFIER_MODELS = {
    f"{kind}-{size}": (kind, backbone)
    for kind in ("gen", "disc", "gad")
    for size, backbone in (("1b", "llama-3.2-1b-instruct"), ("8b", "llama-3-8b-instruct"),
                           ("qwen0.5b", "qwen2.5-0.5b-instruct"), ("smollm2", "smollm2-135m-instruct"))
}
OAD_BENCHMARKS = {"oad-thumos": "thumos", "oad-crosstask": "crosstask", "oad-ek100": "ek100",
                  "oad-ego4d-goalstep": "ego4d-goalstep"}
COIN_BENCHMARKS = {"coin-step": ("step",), "coin-next": ("next",), "coin-task": ("task",),
                   "coin": ("step", "next", "task")}


def is_classifier_benchmark(name: str) -> bool:
    return name in OAD_BENCHMARKS or name in COIN_BENCHMARKS


@dataclass
class EvalSpec:
    model: str
    benchmark: str
    checkpoint: Path
    out: Path | None = None
    data_root: Path | None = None
    coin_json: Path | None = None
    split: str | None = None
    batch_size: int = 1
    branch: str = "auto"  # "gen" reads a GAD model's generative output instead of its head
    backbone: str | None = None  # a local folder of the same backbone
    limit: int | None = None  # videos (OAD) or samples (COIN)
    resume: bool = False
    extra: dict = field(default_factory=dict)


def _recipe_of(checkpoint: Path) -> dict:
    for folder in (checkpoint.parent, checkpoint.parent.parent, checkpoint.parent.parent.parent):
        if (folder / "recipe.toml").is_file():
            return tomllib.loads((folder / "recipe.toml").read_text(encoding="utf-8"))
    return {}


def _check_model(name: str, model_json: dict, where: Path) -> None:
    if name not in CLASSIFIER_MODELS:
        raise ActbenchError(f"unknown classifier model {name!r}{suggestion(name, list(CLASSIFIER_MODELS))} "
                            f"(known: {', '.join(CLASSIFIER_MODELS)})")
    kind, backbone = CLASSIFIER_MODELS[name]
    found_kind = model_json["variant"]["kind"]
    if found_kind != kind:
        raise ActbenchError.bad_value(where, "variant.kind", f"{kind} (the model {name})", found_kind)
    found = model_json["backbone"]
    if found.lower() != backbone and not Path(found).is_dir():
        raise ActbenchError.bad_value(where, "backbone", f"{backbone} (the model {name})", found)


def default_out(spec: EvalSpec) -> Path:
    return Path("results") / "runs" / spec.benchmark / (spec.model + ("-gen" if spec.branch == "gen" else ""))


def evaluate(spec: EvalSpec, *, progress: Callable[[int, int], None] | None = None) -> Path:
    """Run the checkpoint on the benchmark; returns the run directory."""
    from actbench.recipes.feature_lm import MODEL_JSON, WEIGHTS, load_model

    checkpoint = Path(spec.checkpoint)
    if not (checkpoint / MODEL_JSON).is_file():
        raise ActbenchError.bad_value(checkpoint, MODEL_JSON, "a checkpoint folder written by actbench train",
                                      "no such file")
    model_json = json.loads((checkpoint / MODEL_JSON).read_text(encoding="utf-8"))
    _check_model(spec.model, model_json, checkpoint / MODEL_JSON)
    if not is_classifier_benchmark(spec.benchmark):
        raise ActbenchError(f"unknown classifier benchmark {spec.benchmark!r}"
                            f"{suggestion(spec.benchmark, [*OAD_BENCHMARKS, *COIN_BENCHMARKS])}")
    out = Path(spec.out) if spec.out else default_out(spec)
    identity = {"model": spec.model, "benchmark": spec.benchmark,
                "checkpoint_sha256": sha256_file(checkpoint / WEIGHTS),
                "branch": spec.branch, "batch_size": spec.batch_size, "limit": spec.limit}
    done = _start(out, identity, spec.resume)
    model = load_model(checkpoint, backbone=spec.backbone)
    recipe = _recipe_of(checkpoint)
    if spec.benchmark in OAD_BENCHMARKS:
        from actbench.recipes.evaluate_oad import evaluate_oad

        metrics = evaluate_oad(model, spec, recipe, out, done, progress)
    else:
        from actbench.recipes.evaluate_coin import evaluate_coin

        metrics = evaluate_coin(model, spec, recipe, out, done, progress)
    atomic_write_json(out / METRICS, metrics)
    atomic_write_json(out / RUN_FILE, {**identity, "status": "complete", "schema_version": 1})
    return out


def _start(out: Path, identity: dict, resume: bool) -> dict[str, dict]:
    """The journal's finished records (resume), after checking the run is the same one."""
    info = out / RUN_FILE
    if info.is_file():
        before = json.loads(info.read_text(encoding="utf-8"))
        if not resume:
            raise ActbenchError.bad_value(out, "run directory", "an empty folder (or --resume)", "a previous run")
        changed = [k for k in identity if before.get(k) != identity[k]]
        if changed:
            raise ActbenchError.bad_value(info, changed[0], f"{before.get(changed[0])!r} (the run being resumed)",
                                          identity[changed[0]])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(info, {**identity, "status": "running", "schema_version": 1})
    return read_journal(out / JOURNAL)


def read_journal(path: Path) -> dict[str, dict]:
    """Finished records by key; a last line cut by a kill is removed (that item is predicted again)."""
    done: dict[str, dict] = {}
    if not path.is_file():
        return done
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as f:
            f.truncate(len(complete))
            os.fsync(f.fileno())
    for line in complete.decode("utf-8").splitlines():
        record = json.loads(line)
        done[record["key"]] = record
    return done


class JournalWriter:
    """Appends one JSON line per finished item and fsyncs it (a kill loses at most the item in flight)."""

    def __init__(self, path: Path):
        self._file = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def write_label_file(path: Path, labels: dict[str, list[str]]) -> None:
    atomic_write_text(path, json.dumps({v: labels[v] for v in sorted(labels)}, sort_keys=True) + "\n")
