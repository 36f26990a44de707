"""Online action detection as a training task for the Gen / Disc / GAD classifiers (GAD paper B.1).

Samples come from a dataset in the TeSTra layout (datasets/oad_layout.py): for a frame ``t``, the
features of its long-term then short-term window (one visual token per frame), the query "What is the
action in the last frame?", the frame's label (its first active class; class 0 is background) and, for
the generating variants, a target text built from the label timeline:

- ``label``       the label, e.g. ``take knife``
- ``label_prev``  ``label, previous action``: the most recent action of the short-term window before ``t``
                  that is neither background nor the current label (GAD's default); the label alone when
                  the window holds none
- ``label_next``  ``label, next action``: the first such action after ``t`` in the video
- ``label_past``  the label, then every such action of the short-term window, most recent first
- ``prev``        the previous action alone (GAD_sep); ``none`` when there is none

Background frames weigh ``background_weight`` in both losses (THUMOS 1.0, CrossTask 0.2, EK100 0.5,
Ego4D 0.5 in the recipes). Training windows: one every short-term length from a random start per video,
in an order shuffled per epoch (seeded by ``(seed, epoch)``).

>>> labels = np.array([0, 3, 3, 0, 5, 5, 2])
>>> previous_action(labels, 6, 0), next_action(labels, 1), past_actions(labels, 6, 0)
(5, 5, [5, 3])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from actbench.datasets.oad_layout import OadDataset, Window, WindowSpec, training_windows
from actbench.recipes.sequences import Sample
from actbench.recipes.variants import Variant

OAD_QUERY = "What is the action in the last frame?"  # GAD paper Tab. 8
BACKGROUND = 0


def _others(labels: np.ndarray, t: int) -> np.ndarray:
    return (labels != labels[t]) & (labels != BACKGROUND)


def previous_action(labels: np.ndarray, t: int, start: int) -> int | None:
    """The most recent label in ``[start, t)`` that is neither background nor ``labels[t]``."""
    window = labels[start:t]
    hits = np.flatnonzero((window != labels[t]) & (window != BACKGROUND))
    return int(window[hits[-1]]) if len(hits) else None


def next_action(labels: np.ndarray, t: int) -> int | None:
    """The first label after ``t`` that is neither background nor ``labels[t]``."""
    after = labels[t + 1:]
    hits = np.flatnonzero((after != labels[t]) & (after != BACKGROUND))
    return int(after[hits[0]]) if len(hits) else None


def past_actions(labels: np.ndarray, t: int, start: int) -> list[int]:
    """The distinct actions of ``[start, t)`` other than background and ``labels[t]``, most recent first."""
    out: list[int] = []
    for label in labels[start:t][::-1].tolist():
        if label != BACKGROUND and label != labels[t] and label not in out:
            out.append(int(label))
    return out


def target_text(kind: str, labels: np.ndarray, t: int, start: int, names: Sequence[str]) -> str:
    label = names[labels[t]]
    if kind == "label":
        return label
    if kind in ("label_prev", "prev"):
        prev = previous_action(labels, t, start)
        if kind == "prev":
            return names[prev] if prev is not None else "none"
        return f"{label}, {names[prev]}" if prev is not None else label
    if kind == "label_next":
        nxt = next_action(labels, t)
        return f"{label}, {names[nxt]}" if nxt is not None else label
    if kind == "label_past":
        return ", ".join([label] + [names[p] for p in past_actions(labels, t, start)])
    raise ValueError(f"unknown target {kind!r}")


@dataclass
class OadSamples:
    """Windows -> samples for one dataset split; features and labels are read once per video."""

    dataset: OadDataset
    spec: WindowSpec
    variant: Variant
    background_weight: float = 1.0
    query: str = OAD_QUERY

    def __post_init__(self):
        self._features: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}

    def labels(self, video: str) -> np.ndarray:
        if video not in self._labels:
            self._labels[video] = self.dataset.labels(video)
        return self._labels[video]

    def features(self, video: str) -> np.ndarray:
        if video not in self._features:
            self._features[video] = self.dataset.features(video)
        return self._features[video]

    def lengths(self, videos: Sequence[str]) -> dict[str, int]:
        return {v: len(self.labels(v)) for v in videos}

    def sample(self, window: Window, *, with_target: bool = True) -> Sample:
        labels = self.labels(window.video)
        frames = list(window.long) + list(window.short)
        feats = self.features(window.video)[frames][:, None, :]
        label = int(labels[window.t])
        names = self.dataset.info.class_names
        text = target_text(self.variant.target, labels, window.t, window.short.start, names) \
            if with_target and self.variant.generates else None
        return Sample(features=feats, query=self.query, head="action", label=label, target_text=text,
                      prev_label=previous_action(labels, window.t, window.short.start),
                      weight=self.background_weight if label == BACKGROUND else 1.0,
                      key=(window.video, window.t))


class FeatureTask:
    """What the OAD and COIN tasks share: the model (feature_lm.FeatureLM) and its stages (label_2stage)."""

    def __init__(self, *, micro_batch: int, build, load, stages: list[tuple[str, int]] | None = None):
        self.micro_batch = micro_batch
        self._build, self._load = build, load
        self._stages = stages
        self.stage = "joint"

    def stages(self) -> list[tuple[str, int]]:
        return self._stages

    def build_model(self):
        return self._build()

    def load_model(self, directory: Path):
        return self._load(directory)

    def loss(self, model, batch):
        return model(batch, stage=self.stage)

    def param_groups(self, model, lr: float) -> list[dict]:
        return head_stage_groups(model, lr, self.stage)

    def save_model(self, model, directory: Path) -> None:
        model.save(directory)


class OadTask(FeatureTask):
    """The TrainTask (trainer.py) of an OAD recipe."""

    def __init__(self, samples: OadSamples, *, videos: Sequence[str], **model):
        super().__init__(**model)
        self.name = f"oad-{samples.spec.dataset}"
        self.samples = samples
        self.videos = list(videos)

    def _windows(self, epoch: int, seed: int) -> list[Window]:
        rng = np.random.default_rng([seed, epoch])
        windows = list(training_windows(self.samples.lengths(self.videos), self.samples.spec, rng=rng))
        order = rng.permutation(len(windows))
        return [windows[i] for i in order]

    def micro_batches_per_epoch(self, epoch: int, seed: int) -> int:
        return -(-len(self._windows(epoch, seed)) // self.micro_batch)

    def batches(self, epoch: int, seed: int) -> Iterator[list[Sample]]:
        windows = self._windows(epoch, seed)
        for i in range(0, len(windows), self.micro_batch):
            yield [self.samples.sample(w) for w in windows[i:i + self.micro_batch]]


def head_stage_groups(model, lr: float, stage: str) -> list[dict]:
    """All trainable parameters, or for label_2stage's second stage only [CLS] and the heads (§4.3)."""
    if stage == "head":
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(("cls_tokens", "heads.")))
    return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
