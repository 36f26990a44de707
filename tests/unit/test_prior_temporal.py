"""The sequence prior against hand-computed Witten-Bell values, and the temporal source's ordering."""

from __future__ import annotations

import numpy as np
import pytest

from actbench.mqa_builder.ranking import SourceContext
from actbench.mqa_builder.sources import temporal
from actbench.mqa_builder.sources.prior import SequencePrior
from tests.helpers.mini_ek100 import make_mini_ek100


def test_witten_bell_by_hand():
    # One training video "P01_01": actions 0 1 0 2 over 4 classes.
    model = SequencePrior({"P01_01": [0, 1, 0, 2]}, n_classes=4)
    uniform = np.full(4, 0.25)
    # global: counts (2,1,1,0), n=4, T=3 -> (c + 3 * 1/4) / 7
    g = (np.array([2, 1, 1, 0]) + 3 * uniform) / 7
    assert model.global_prior == pytest.approx(g)
    # the participant saw the same counts, backed off to the global prior
    part = (np.array([2, 1, 1, 0]) + 3 * g) / 7
    assert model.participant_prior["P01"] == pytest.approx(part)
    # after "1" in a new video of P01 (so far: one 1): video level, then bigram 1 -> {0: 1}
    so_far = np.array([0.0, 1.0, 0.0, 0.0])
    video = (so_far + 1 * part) / 2
    bigram = (np.array([1, 0, 0, 0]) + 1 * video) / 2
    got = model.probabilities("P01", so_far, [1])
    assert got == pytest.approx(bigram) and got.sum() == pytest.approx(1.0)
    # history (2, 1): no such trigram in training -> same as the bigram; (0, 1) -> {0: 1}
    assert model.probabilities("P01", so_far, [2, 1]) == pytest.approx(bigram)
    assert model.probabilities("P01", so_far, [0, 1]) == pytest.approx((np.array([1, 0, 0, 0]) + bigram) / 2)
    # (1, 0) -> {2: 1}
    so_far2 = np.array([1.0, 1.0, 0.0, 0.0])
    video2 = (so_far2 + 2 * part) / 4
    bi2 = (np.array([0, 1, 1, 0]) + 2 * video2) / 4  # after 0: {1: 1, 2: 1}
    tri = (np.array([0, 0, 1, 0]) + 1 * bi2) / 2
    assert model.probabilities("P01", so_far2, [1, 0]) == pytest.approx(tri)
    # an unknown participant backs off to the global prior
    assert model.probabilities("P99", np.zeros(4), []) == pytest.approx(g)


def test_temporal_ranks_nearest_neighbours_of_the_same_video_first(tmp_path):
    from actbench.datasets.epic_kitchens import EpicKitchens100

    ek = EpicKitchens100.from_data_dir(make_mini_ek100(tmp_path))
    clips = ek.validation
    ranking = temporal.rank(SourceContext(ek, "validation", clips, None, 0))
    keys = ek.action_space.keys
    # P01_11_3 "take knife" (3.2-4.0 s, centre 3.6): neighbours close cupboard (2.55), cut onion (5.25),
    # take plate (1.6), put down knife (6.55), open cupboard (0.5).
    row = ranking.scores[3]
    order = [keys[c] for c in np.argsort(-row, kind="stable")[:6]]
    assert order[:5] == ["4:4", "5:5", "0:1", "1:2", "3:4"]
    assert row[ek.action_space.index["4:4"]] == pytest.approx(1 + 1 / (1 + 1.05), rel=1e-6)
    # classes absent from the video rank below all of its own, by training frequency
    absent = [c for c in range(len(keys)) if keys[c] not in {"4:4", "5:5", "0:1", "1:2", "3:4", "0:2"}]
    assert row[absent].max() < 1.0 < row[ek.action_space.index["3:4"]]
