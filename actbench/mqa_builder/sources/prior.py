"""``prior``: a sequence model of actions, learned from the training split, that never sees the video.

P(action | the two previous actions of the same video) is estimated from the training videos and backed
off, by Witten-Bell interpolation, to P(action | previous action), to the frequencies of the actions so
far in the same video, to the participant's training frequencies and to the global training prior
(itself smoothed towards uniform)::

    P_ctx(a) = (c_ctx(a) + T_ctx * P_lower(a)) / (n_ctx + T_ctx)

with c_ctx the counts in that context, n_ctx their sum and T_ctx the number of distinct actions seen
there. Witten-Bell needs no tuned weights: a context that has been followed by many different actions
trusts its lower order more. The history of a clip is the ground truth of the clips that start before
it in the same video (ties broken by end time, then file order), as a researcher replaying a video's
annotations would see it; the clip's own label is never used.

Its log-probabilities rank every class for every clip, so it serves as a specialist like TIM or AVION
(``--source prior``) and, scoring only the options of a question, as the ``prior`` model adapter.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

import numpy as np

from actbench.errors import ActbenchError
from actbench.mqa_builder.ranking import Ranking, SourceContext
from actbench.records import Clip


def video_order(clips: Iterable[Clip]) -> dict[str, list[int]]:
    """Indices of ``clips`` grouped by video, each group in time order."""
    clips = list(clips)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, clip in enumerate(clips):
        groups[clip.video_id].append(i)
    for members in groups.values():
        members.sort(key=lambda i: (clips[i].start, clips[i].end, i))
    return groups


def _sparse(counter: Counter) -> tuple[np.ndarray, np.ndarray, int, int]:
    classes = np.fromiter(counter.keys(), dtype=np.int64, count=len(counter))
    counts = np.fromiter(counter.values(), dtype=np.float64, count=len(counter))
    return classes, counts, int(counts.sum()), len(counter)


def _witten_bell(lower: np.ndarray, classes: np.ndarray, counts: np.ndarray, total: int, types: int) -> np.ndarray:
    out = lower * (types / (total + types))
    out[classes] += counts / (total + types)
    return out


class SequencePrior:
    """Interpolated trigram model over action classes with video / participant / global back-off."""

    def __init__(self, train_actions_by_video: dict[str, list[int]], n_classes: int,
                 participant_of: dict[str, str] | None = None):
        """``participant_of``: video -> the group its participant prior pools (default: the EPIC video
        name's prefix, ``P01_11`` -> ``P01``)."""
        self.n_classes = n_classes
        unigram = np.zeros(n_classes)
        per_participant: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(n_classes))
        bigram: dict[int, Counter] = defaultdict(Counter)
        trigram: dict[tuple[int, int], Counter] = defaultdict(Counter)
        for video, actions in train_actions_by_video.items():
            participant = participant_of[video] if participant_of is not None else video.split("_")[0]
            np.add.at(unigram, actions, 1)
            np.add.at(per_participant[participant], actions, 1)
            for i, a in enumerate(actions):
                if i >= 1:
                    bigram[actions[i - 1]][a] += 1
                if i >= 2:
                    trigram[(actions[i - 2], actions[i - 1])][a] += 1
        uniform = np.full(n_classes, 1.0 / n_classes)
        seen = np.flatnonzero(unigram)
        self.global_prior = _witten_bell(uniform, seen, unigram[seen], int(unigram.sum()), len(seen))
        self.participant_prior = {}
        for participant, counts in per_participant.items():
            nz = np.flatnonzero(counts)
            self.participant_prior[participant] = _witten_bell(self.global_prior, nz, counts[nz],
                                                               int(counts.sum()), len(nz))
        self.bigram = {k: _sparse(v) for k, v in bigram.items()}
        self.trigram = {k: _sparse(v) for k, v in trigram.items()}

    @classmethod
    def from_dataset(cls, dataset, split: str | None = None) -> "SequencePrior":
        """Trained on the split that models evaluated on ``split`` train on (the dataset's training split)."""
        train = dataset.training_segments(split)
        actions = dataset.action_ids(train)
        by_video = {v: [int(actions[i]) for i in members] for v, members in video_order(train).items()}
        return cls(by_video, len(dataset.action_space), {c.video_id: c.participant_id for c in train})

    def probabilities(self, participant: str, so_far: np.ndarray, history: list[int]) -> np.ndarray:
        """P(action) for a clip, given the counts of the video's earlier actions and their sequence."""
        p = self.participant_prior.get(participant, self.global_prior)
        total = int(so_far.sum())
        if total:
            nz = np.flatnonzero(so_far)
            p = _witten_bell(p, nz, so_far[nz], total, len(nz))
        if history and history[-1] in self.bigram:
            p = _witten_bell(p, *self.bigram[history[-1]])
        if len(history) >= 2 and (history[-2], history[-1]) in self.trigram:
            p = _witten_bell(p, *self.trigram[(history[-2], history[-1])])
        return p

    def score_clips(self, everyone: tuple[Clip, ...], actions: np.ndarray, wanted: list[str]) -> np.ndarray:
        """log P for each clip id in ``wanted`` (rows in that order, repeats allowed), replaying each
        video's history."""
        unique = list(dict.fromkeys(wanted))
        row_of = {nid: r for r, nid in enumerate(unique)}
        scores = np.empty((len(unique), self.n_classes), dtype=np.float32)
        filled = 0
        for members in video_order(everyone).values():
            so_far = np.zeros(self.n_classes)
            history: list[int] = []
            for i in members:
                row = row_of.get(everyone[i].narration_id)
                if row is not None:
                    scores[row] = np.log(self.probabilities(everyone[i].participant_id, so_far, history))
                    filled += 1
                so_far[actions[i]] += 1
                history.append(int(actions[i]))
        if filled != len(unique):
            missing = set(unique) - {clip.narration_id for clip in everyone}
            raise KeyError(f"clips not in the annotation file: {sorted(missing)[:3]}")
        return scores if len(unique) == len(wanted) else scores[[row_of[w] for w in wanted]]


def rank(ctx: SourceContext) -> Ranking:
    if ctx.split == ctx.dataset.train_split_for(ctx.split):
        # It learned from the training clips: ranking them would hand it their answers.
        raise ActbenchError("source 'prior' ranks held-out clips only (it is trained on the train split); "
                            f"use --split {ctx.dataset.default_split}")
    dataset = ctx.dataset
    model = SequencePrior.from_dataset(dataset, ctx.split)
    everyone = dataset.split(ctx.split)
    wanted = [c.narration_id for c in ctx.clips]
    scores = model.score_clips(everyone, dataset.action_ids(everyone), wanted)
    return Ranking(tuple(wanted), scores, origin="source 'prior'")
