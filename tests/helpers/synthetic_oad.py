"""Synthetic per-frame features on real label timelines (OAD) and a tiny synthetic COIN, for model tests.

No real features exist on the development machines, but the real label timelines do (EK100, Goal-Step:
``actbench oad ground-truth``). A model test needs features it can learn from: every frame's feature is a
fixed random prototype of its class plus seeded Gaussian noise. The prototypes are unit vectors; the noise
is isotropic with expected norm ``noise`` (default 1.5, larger than the prototype itself), so one frame
is dominated by noise while the classes stay separable: over a handful of classes a nearest-prototype
classifier gets well above 90% of the frames, never all of them by construction.

Everything is deterministic from ``seed``: the prototypes from ``(seed, class index)``'s stream, the noise
of a video from ``(seed, crc32(video id))``, so a video's features do not depend on which other videos
are written with it.

Typical use::

    timeline = restrict(timeline_from_dir(gt_dir), videos=3, classes=5, max_frames=400)
    write_synthetic_oad(tmp / "oad", timeline, dim=32, seed=0, test_videos=[timeline.videos[-1]])
    OadDataset.open(tmp / "oad")  # data_info.json, target_perframe/, features/
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from actbench.atomic import atomic_write_json
from actbench.datasets.oad_layout import (
    FEATURES, TARGETS, DataInfo, first_active, read_data_info, read_targets, save_npy, write_data_info)

DEFAULT_DIM = 32
DEFAULT_NOISE = 1.5
_PROTOTYPE_STREAM = 0x5EED  # keeps the prototype stream apart from every video's noise stream


@dataclass(frozen=True)
class LabelTimeline:
    """Per-frame class indices of some videos (class 0 = background)."""

    class_names: tuple[str, ...]
    labels: Mapping[str, np.ndarray]  # video -> (T,) int
    fps: float
    key: str = "SYN"

    @property
    def videos(self) -> tuple[str, ...]:
        return tuple(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# ------------------------------------------------------------------------------------------------ reading

def timeline_from_dir(root: str | Path, key: str | None = None) -> LabelTimeline:
    """The timeline of an OAD ground-truth directory: ``target_perframe/`` when written (the label of a
    frame is its first active class), else ``G.json`` (video -> per-frame class names)."""
    root = Path(root)
    info = read_data_info(root, key)
    videos = list(dict.fromkeys(v for split in info.splits.values() for v in split))  # every split, in order
    if (root / TARGETS).is_dir():
        labels = {v: first_active(read_targets(root, v, num_classes=info.num_classes)).astype(np.int32)
                  for v in videos}
    else:
        index = {name: i for i, name in enumerate(info.class_names)}
        lists = json.loads((root / "G.json").read_text(encoding="utf-8"))
        labels = {v: np.array([index[name] for name in lists[v]], dtype=np.int32) for v in videos}
    return LabelTimeline(info.class_names, MappingProxyType(labels), info.fps, info.key)


def timeline_from_ground_truth(gt) -> LabelTimeline:
    """From an :class:`~actbench.datasets.oad_ground_truth.OadGroundTruth` in memory (no files)."""
    return LabelTimeline(gt.class_names, MappingProxyType({v: gt.labels(v) for v in gt.videos}), gt.fps, gt.key)


def restrict(timeline: LabelTimeline, *, videos: int | Sequence[str] = 3, classes: int = 5,
             max_frames: int | None = None) -> LabelTimeline:
    """A small problem from a big timeline: the chosen videos (the first ``videos`` ones, or those named),
    each cut to ``max_frames``, and their ``classes`` most frequent non-background classes (ties: lower
    index first), renumbered 1..K in that order; every other frame becomes background."""
    chosen = list(timeline.videos[:videos]) if isinstance(videos, int) else list(videos)
    cut = {v: timeline.labels[v][:max_frames] for v in chosen}
    counts = np.bincount(np.concatenate(list(cut.values())), minlength=timeline.num_classes)
    counts[0] = 0
    ranked = sorted((c for c in range(1, timeline.num_classes) if counts[c] > 0), key=lambda c: (-counts[c], c))
    keep = ranked[:classes]
    mapping = np.zeros(timeline.num_classes, dtype=np.int32)
    mapping[keep] = np.arange(1, len(keep) + 1)
    names = (timeline.class_names[0], *(timeline.class_names[c] for c in keep))
    return LabelTimeline(names, MappingProxyType({v: mapping[cut[v]] for v in chosen}), timeline.fps, timeline.key)


# --------------------------------------------------------------------------------------------- features

def prototypes(num_classes: int, dim: int = DEFAULT_DIM, *, seed: int = 0) -> np.ndarray:
    """(C, D) float32 unit vectors, one per class."""
    raw = np.random.default_rng([seed, _PROTOTYPE_STREAM]).standard_normal((num_classes, dim))
    return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)


def video_rng(seed: int, video: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(video.encode("utf-8"))])


def synthetic_features(labels: np.ndarray, protos: np.ndarray, *, video: str, seed: int = 0,
                       noise: float = DEFAULT_NOISE, tokens: int | None = None) -> np.ndarray:
    """(T, D) float32 (or (T, tokens, D)): the prototype of each frame's class plus noise of norm ~``noise``."""
    dim = protos.shape[1]
    shape = (len(labels), dim) if tokens is None else (len(labels), tokens, dim)
    noise_rows = video_rng(seed, video).standard_normal(shape) * (noise / math.sqrt(dim))
    base = protos[np.asarray(labels)]
    return (base if tokens is None else base[:, None, :]) + noise_rows.astype(np.float32)


def nearest_prototype(features: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """Each row's nearest prototype (squared Euclidean): the reference classifier of the separability test."""
    distances = (features ** 2).sum(1)[:, None] - 2 * features @ protos.T + (protos ** 2).sum(1)[None, :]
    return np.argmin(distances, axis=1)


def write_features(root: str | Path, timeline: LabelTimeline, *, dim: int = DEFAULT_DIM, seed: int = 0,
                   noise: float = DEFAULT_NOISE) -> list[Path]:
    """``root/features/<video>.npy`` for every video of the timeline (e.g. into its ground-truth folder)."""
    protos = prototypes(timeline.num_classes, dim, seed=seed)
    written = []
    for video, labels in timeline.labels.items():
        path = Path(root) / FEATURES / f"{video}.npy"
        save_npy(path, synthetic_features(labels, protos, video=video, seed=seed, noise=noise))
        written.append(path)
    return written


def write_synthetic_oad(out: str | Path, timeline: LabelTimeline, *, dim: int = DEFAULT_DIM, seed: int = 0,
                        noise: float = DEFAULT_NOISE, test_videos: Sequence[str] | None = None) -> Path:
    """A complete OAD directory (data_info.json, one-hot target_perframe/, features/) for the timeline.

    ``test_videos`` go to ``test_session_set`` and the others to ``train_session_set``; without it every
    video is in both.
    """
    out = Path(out)
    videos = timeline.videos
    test = tuple(videos) if test_videos is None else tuple(test_videos)
    train = tuple(videos) if test_videos is None else tuple(v for v in videos if v not in test)
    info = DataInfo(timeline.key, timeline.class_names, timeline.fps,
                    MappingProxyType({"train_session_set": train, "test_session_set": test}))
    write_data_info(out, [info], provenance={"synthetic": {"dim": dim, "seed": seed, "noise": noise}})
    eye = np.eye(timeline.num_classes, dtype=np.uint8)
    for video, labels in timeline.labels.items():
        save_npy(out / TARGETS / f"{video}.npy", eye[labels])
    write_features(out, timeline, dim=dim, seed=seed, noise=noise)
    return out


# ------------------------------------------------------------------------------------------------- COIN

# Made-up tasks (official-style CamelCase classes) and their fixed step orders: each step belongs to one
# task at one position, so step, next step and task are all learnable from the features.
COIN_TASKS = {
    "MakeSandwich": ("cut bread", "spread butter", "put together"),
    "ReplaceSIMCard": ("open the card slot", "take out the old card", "insert the new card"),
    "ChangeBikeTire": ("remove the wheel", "pry off the tire", "fit the new tire", "pump up the tire"),
}


def make_synthetic_coin(root: str | Path, *, videos_per_task: int = 4, dim: int = 16, tokens: int | None = None,
                        noise: float = 1.0, seed: int = 0, fps: float = 2.0) -> tuple[Path, Path]:
    """``root/coin.json`` in the official format and ``root/features/<video>.npy`` at ``fps``.

    Per task, the last video is ``testing`` and the others ``training``. A step lasts 2-6 s with 0-2 s of
    background before it; frame ``t`` (time ``t / fps``) shows the step covering it, else the background
    prototype (class 0). Returns (coin.json, features folder).
    """
    rng = np.random.default_rng([seed, 0xC011])
    steps = [s for task_steps in COIN_TASKS.values() for s in task_steps]
    protos = prototypes(len(steps) + 1, dim, seed=seed)
    root, database = Path(root), {}
    for t, (task, task_steps) in enumerate(COIN_TASKS.items()):
        for n in range(videos_per_task):
            video = f"syn{t}{n:02d}"
            clock, annotation = 0.0, []
            for name in task_steps:
                start = clock + round(float(rng.uniform(0, 2)), 1)
                clock = start + round(float(rng.uniform(2, 6)), 1)
                annotation.append({"id": str(steps.index(name) + 1), "segment": [round(start, 1), round(clock, 1)],
                                   "label": name})
            duration = round(clock + float(rng.uniform(0.5, 3)), 2)
            database[video] = {"recipe_type": t, "class": task, "start": annotation[0]["segment"][0],
                               "end": annotation[-1]["segment"][1], "duration": duration,
                               "subset": "testing" if n == videos_per_task - 1 else "training",
                               "video_url": f"https://example.invalid/{video}", "annotation": annotation}
            times = np.arange(math.ceil(round(duration * fps, 6))) / fps
            labels = np.zeros(len(times), dtype=np.int64)
            for step in annotation:
                s, e = step["segment"]
                labels[(times >= s) & (times <= e)] = int(step["id"])
            save_npy(root / "features" / f"{video}.npy",
                     synthetic_features(labels, protos, video=video, seed=seed, noise=noise, tokens=tokens))
    atomic_write_json(root / "coin.json", {"version": "synthetic", "database": database})
    return root / "coin.json", root / "features"


__all__ = ["COIN_TASKS", "LabelTimeline", "make_synthetic_coin", "nearest_prototype", "prototypes",
           "restrict", "synthetic_features", "timeline_from_dir", "timeline_from_ground_truth", "video_rng",
           "write_features", "write_synthetic_oad"]
