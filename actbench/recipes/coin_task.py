"""COIN step recognition, next-step forecasting and task recognition as one multi-task training task.

One model learns the three benchmarks together (GAD paper B.1): the query says which (Tab. 8), step and
next-step samples go to the ``step`` head, task samples to the ``task`` head. Features are the clip's
frames at 2 fps with ``tokens_per_frame`` tokens each (VideoLLM-online: 1 global + 3x3 patch = 10);
a clip longer than ``max_frames`` is subsampled uniformly (the paper downsamples only above the maximum
length). Generation targets: the label for Gen; for GAD "Step. Task." (the step or next step, then the
task) and "Task." for task samples.

>>> coin_target("gad", "step", "add flour", "make bread"), coin_target("gad", "task", "make bread", "make bread")
('add flour. make bread.', 'make bread.')
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from actbench.datasets.coin import KINDS, CoinDataset, CoinSample
from actbench.recipes.oad_task import FeatureTask
from actbench.recipes.sequences import Sample

QUERIES = {  # GAD paper Tab. 8
    "step": "What is the action in the video?",
    "next": "What is the next action in the video?",
    "task": "What is the overall activity in the video?",
}
HEAD_OF = {"step": "step", "next": "step", "task": "task"}


def coin_target(kind: str, sample_kind: str, label: str, task: str) -> str:
    """The generation target of one sample for a variant kind (``gen`` or ``gad``)."""
    if kind != "gad":
        return label
    return f"{task}." if sample_kind == "task" else f"{label}. {task}."


def subsample(frames: int, max_frames: int) -> np.ndarray:
    """Row indices keeping at most ``max_frames`` frames, evenly spaced, first and last included.

    >>> subsample(10, 4).tolist(), subsample(3, 4).tolist()
    ([0, 3, 6, 9], [0, 1, 2])
    """
    if frames <= max_frames:
        return np.arange(frames)
    return np.round(np.linspace(0, frames - 1, max_frames)).astype(int)


class CoinSamples:
    def __init__(self, dataset: CoinDataset, *, variant_kind: str, tokens_per_frame: int, max_frames: int = 128):
        self.dataset = dataset
        self.variant_kind = variant_kind
        self.tokens_per_frame = tokens_per_frame
        self.max_frames = max_frames

    def heads(self) -> dict[str, list[str]]:
        return {"step": list(self.dataset.steps), "task": list(self.dataset.tasks)}

    def items(self, split: str, kinds: Sequence[str] = KINDS) -> list[CoinSample]:
        return [s for kind in kinds for s in self.dataset.samples(kind, split)]

    def sample(self, item: CoinSample) -> Sample:
        feats = np.asarray(self.dataset.features(item), dtype=np.float32)
        if feats.ndim == 2:
            feats = feats[:, None, :]
        if feats.shape[1] != self.tokens_per_frame:
            from actbench.errors import ActbenchError

            raise ActbenchError.bad_value(f"{self.dataset.features_dir}/{item.video_id}", "tokens per frame",
                                          f"{self.tokens_per_frame} (the recipe's data.tokens_per_frame)",
                                          feats.shape[1])
        feats = feats[subsample(len(feats), self.max_frames)]
        text = coin_target(self.variant_kind, item.kind, item.label, item.task) if self.variant_kind != "disc" else None
        return Sample(features=feats, query=QUERIES[item.kind], head=HEAD_OF[item.kind], label=item.label_index,
                      target_text=text, key=(item.kind, item.video_id, item.step))


class CoinTask(FeatureTask):
    """The TrainTask (trainer.py) of a COIN recipe: the three benchmarks' training samples, shuffled."""

    def __init__(self, samples: CoinSamples, **model):
        super().__init__(**model)
        self.name = "coin"
        self.samples = samples
        self.items = samples.items("training")

    def micro_batches_per_epoch(self, epoch: int, seed: int) -> int:
        return -(-len(self.items) // self.micro_batch)

    def batches(self, epoch: int, seed: int) -> Iterator[list[Sample]]:
        order = np.random.default_rng([seed, epoch]).permutation(len(self.items))
        for i in range(0, len(order), self.micro_batch):
            yield [self.samples.sample(self.items[j]) for j in order[i:i + self.micro_batch]]
