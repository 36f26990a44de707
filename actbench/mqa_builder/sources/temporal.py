"""``temporal``: distractors are the other actions of the same video nearest in time to the clip.

Such options share the scene and the objects of the answer, so they test whether a model looks at the
moment of the clip rather than at the kitchen. The score of a class is ``1 + 1 / (1 + d)``, with d the
smallest distance in seconds between the clip's centre and the centre of another clip of that class in
the same video (all clips of the split's annotation file, not only the ones being built). Classes that
do not occur elsewhere in the video fall below every in-video class, ordered by their training
frequency, so a short video still yields K-1 distractors.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from actbench.mqa_builder.ranking import Ranking, SourceContext


def global_frequency(dataset, split: str | None = None) -> np.ndarray:
    """Share of each action class among the training clips (add-one smoothed, so all are > 0).

    Without a training split (Goal-Step's train file is not always there) every class gets the same
    share: counting the split being built would let each clip's own label raise its class.
    """
    n_classes = len(dataset.action_space)
    train_split = dataset.train_split_for(split)
    if train_split is None or not dataset.has_split(train_split):
        return np.full(n_classes, 1.0 / (n_classes + 1))
    counts = np.bincount(dataset.action_ids(dataset.training_segments(split)), minlength=n_classes)
    return ((counts + 1) / (counts.sum() + len(counts))).astype(np.float64)


def rank(ctx: SourceContext) -> Ranking:
    dataset = ctx.dataset
    n_classes = len(dataset.action_space)
    everyone = dataset.split(ctx.split)
    action = dataset.action_ids(everyone)
    by_video: dict[str, list[int]] = defaultdict(list)
    for i, clip in enumerate(everyone):
        by_video[clip.video_id].append(i)
    position = {clip.narration_id: i for i, clip in enumerate(everyone)}
    centre = np.array([(c.start + c.end) / 2 for c in everyone])

    base = global_frequency(dataset, ctx.split).astype(np.float32)  # in (0, 1): below every in-video class
    scores = np.tile(base, (len(ctx.clips), 1))
    wanted = defaultdict(list)
    for row, clip in enumerate(ctx.clips):
        wanted[clip.video_id].append((row, position[clip.narration_id]))
    for video, targets in wanted.items():
        members = np.array(by_video[video])
        rows = np.array([r for r, _ in targets])
        selves = np.array([p for _, p in targets])
        distance = np.abs(centre[selves][:, None] - centre[members][None, :])
        distance[selves[:, None] == members[None, :]] = np.inf  # a clip is not its own neighbour
        nearest = np.full((len(rows), n_classes), np.inf)
        np.minimum.at(nearest, (np.repeat(np.arange(len(rows)), len(members)),
                                np.tile(action[members], len(rows))), distance.ravel())
        present = np.isfinite(nearest)
        block = scores[rows]
        block[present] = (1.0 + 1.0 / (1.0 + nearest[present])).astype(np.float32)
        scores[rows] = block
    return Ranking(tuple(c.narration_id for c in ctx.clips), scores, origin="source 'temporal'")
