"""``action_scores_from_verb_noun`` against a naive loop written from the official evaluator's steps.

The reference follows epic-kitchens/C1-Action-Recognition ``utils/scoring.py`` ``compute_action_scores``
literally, one clip and one pair at a time: sort each clip's verb / noun scores, keep the top k, softmax
over ALL kept scores of the file (``scipy.special.softmax`` with its default ``axis=None``), multiply every
verb-noun pair, keep the k largest products of each clip.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from actbench.evaluators.action_scores import OFFICIAL_TOP_K, action_scores_from_verb_noun


def _naive(verb_scores, noun_scores, verb_of, noun_of, top_k):
    n_clips = len(verb_scores)
    column = {(int(v), int(n)): a for a, (v, n) in enumerate(zip(verb_of, noun_of, strict=True))}
    top_v = [sorted(range(len(row)), key=lambda c: -row[c])[:top_k] for row in verb_scores.tolist()]
    top_n = [sorted(range(len(row)), key=lambda c: -row[c])[:top_k] for row in noun_scores.tolist()]

    def file_softmax(tops, scores):
        kept = [scores[i][c] for i in range(n_clips) for c in tops[i]]
        shift = max(kept)
        total = sum(math.exp(x - shift) for x in kept)
        return [{c: math.exp(scores[i][c] - shift) / total for c in tops[i]} for i in range(n_clips)]

    p_verb = file_softmax(top_v, verb_scores.tolist())
    p_noun = file_softmax(top_n, noun_scores.tolist())
    out = np.full((n_clips, len(verb_of)), -np.inf)
    for i in range(n_clips):
        pairs = [(p_verb[i][v] * p_noun[i][n], v, n) for v in top_v[i] for n in top_n[i]]
        pairs.sort(key=lambda t: -t[0])
        for product, v, n in pairs[:top_k]:
            if (v, n) in column:
                out[i, column[(v, n)]] = product
    return out


@pytest.fixture(scope="module")
def space():
    """A random action space of 600 distinct (verb, noun) pairs over 97 verbs and 300 nouns."""
    rng = np.random.default_rng(7)
    flat = rng.choice(97 * 300, size=600, replace=False)
    return flat // 300, flat % 300


@pytest.mark.parametrize("top_k", [1, 3, 40, OFFICIAL_TOP_K, 300])
def test_matches_the_naive_official_loop(space, top_k):
    rng = np.random.default_rng(top_k)
    verb = rng.normal(0, 2, size=(6, 97)).astype(np.float32)
    noun = rng.normal(0, 2, size=(6, 300)).astype(np.float32)
    # Make each clip's best pair one of the space, so kept pairs land in columns.
    verb_of, noun_of = space
    for i in range(6):
        verb[i, verb_of[i]] += 12
        noun[i, noun_of[i]] += 12
    expected = _naive(verb, noun, verb_of, noun_of, top_k)
    got = action_scores_from_verb_noun(verb, noun, verb_of, noun_of, top_k=top_k)
    assert got.dtype == np.float32 and got.shape == (6, 600)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))
    assert np.isfinite(got).any(axis=1).all()
    np.testing.assert_array_equal(got.argmax(axis=1), np.arange(6))
    np.testing.assert_allclose(got[np.isfinite(got)], expected[np.isfinite(expected)], rtol=1e-5)

    logged = action_scores_from_verb_noun(verb, noun, verb_of, noun_of, top_k=top_k, log=True)
    np.testing.assert_array_equal(np.isfinite(logged), np.isfinite(expected))
    np.testing.assert_allclose(logged[np.isfinite(logged)], np.log(expected[np.isfinite(expected)]),
                               rtol=1e-5, atol=1e-5)


def test_hand_worked_case_and_pairs_outside_the_space_are_dropped():
    verb = np.array([[2.0, 1.0]])
    noun = np.array([[0.0, 3.0, 1.0]])
    # columns: (0, 1), (1, 1), (1, 0); the best pair (0, 1) is in the space, (0, 2) and (1, 2) are not.
    verb_of, noun_of = np.array([0, 1, 1]), np.array([1, 1, 0])
    p_verb = np.exp([2.0, 1.0]) / np.exp([2.0, 1.0]).sum()
    p_noun = np.exp([3.0, 1.0]) / np.exp([3.0, 1.0]).sum()  # top 2 nouns: 1, 2
    got = action_scores_from_verb_noun(verb, noun, verb_of, noun_of, top_k=2)
    # top-2 products: (0,1) = p_verb[0] p_noun[0], (1,1) = p_verb[1] p_noun[0]; noun 0 was never kept.
    np.testing.assert_allclose(got[0, :2], [p_verb[0] * p_noun[0], p_verb[1] * p_noun[0]], rtol=1e-6)
    assert got[0, 2] == -np.inf


def test_softmax_runs_over_the_whole_file_as_scipy_default_does():
    rng = np.random.default_rng(3)
    verb, noun = rng.normal(size=(1, 97)), rng.normal(size=(1, 300))
    other_verb, other_noun = rng.normal(size=(1, 97)) + 1, rng.normal(size=(1, 300))
    verb_of, noun_of = np.repeat(np.arange(97), 300), np.tile(np.arange(300), 97)  # every pair
    alone = action_scores_from_verb_noun(verb, noun, verb_of, noun_of)
    together = action_scores_from_verb_noun(np.vstack([verb, other_verb]), np.vstack([noun, other_noun]),
                                            verb_of, noun_of)[:1]
    kept = np.isfinite(alone)
    np.testing.assert_array_equal(kept, np.isfinite(together))
    assert kept.sum() == OFFICIAL_TOP_K
    ratio = together[kept] / alone[kept]  # the other clip only rescales this clip's scores
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
    assert ratio[0] < 0.9
    # One clip alone: probabilities of all 97 x 100 products sum to 1, the kept 100 to less.
    assert 0 < alone[kept].sum() < 1


def test_minus_infinity_marks_unscored_classes_and_nan_is_refused():
    verb = np.full((1, 4), -np.inf)
    verb[0, 2] = 1.0
    noun = np.array([[0.5, -np.inf, 2.0]])
    verb_of, noun_of = np.array([2, 2, 0]), np.array([2, 0, 2])
    got = action_scores_from_verb_noun(verb, noun, verb_of, noun_of, top_k=2, log=True)
    p_noun = np.exp([2.0, 0.5]) / np.exp([2.0, 0.5]).sum()
    np.testing.assert_allclose(got[0, :2], np.log(p_noun), rtol=1e-6)
    assert got[0, 2] == -np.inf  # verb 0 has no score
    with pytest.raises(ValueError, match="finite"):
        action_scores_from_verb_noun(np.array([[np.nan, 1.0]]), noun, verb_of % 2, noun_of)


def test_full_validation_size_is_fast(space):
    import time

    rng = np.random.default_rng(0)
    verb = rng.normal(size=(9668, 97)).astype(np.float32)
    noun = rng.normal(size=(9668, 300)).astype(np.float32)
    start = time.perf_counter()
    out = action_scores_from_verb_noun(verb, noun, *space, log=True)
    assert time.perf_counter() - start < 10  # about 1 s; a per-clip Python loop takes minutes
    assert out.shape == (9668, 600)
