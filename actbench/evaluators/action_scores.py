"""Action scores from separate verb and noun scores, as the EPIC-KITCHENS-100 evaluator derives them.

The official action-recognition evaluator (epic-kitchens/C1-Action-Recognition, ``utils/scoring.py``,
``compute_action_scores(verb_scores, noun_scores, top_n=100)``, called by ``evaluate.py``) does, per clip:

1. keep the ``top_n`` highest verb scores and the ``top_n`` highest noun scores
   (``np.argsort(scores)[:, ::-1][:, :top_n]``; with 97 verbs that keeps every verb);
2. turn each into probabilities with ``scipy.special.softmax(top_scores)``. scipy's default is
   ``axis=None``: the softmax runs over the whole ``(N, top_n)`` matrix, all clips at once, not per
   clip. Within one clip that only scales every probability by the same constant, so each clip's
   ranking is the one a per-clip softmax gives; only the values depend on the other clips of the file;
3. multiply every kept verb probability with every kept noun probability and keep the ``top_n``
   largest products as that clip's action scores (action id ``verb * 1000 + noun``).

:func:`action_scores_from_verb_noun` reproduces this as one vectorised pass and lays the result out
over an action label space (``verb_of[a], noun_of[a]`` = the verb and noun of column ``a``): a kept
pair that is not in the label space is dropped, every column not kept is ``-inf``. Only pairs with
``(i + 1) * (j + 1) <= top_n`` (``i``, ``j`` their positions in the sorted verb / noun lists) can be
among the ``top_n`` largest products, so only those ~``top_n * ln(top_n)`` are formed.

Ties exactly on the ``top_n``-th product are broken arbitrarily here, as they are by the official
``argsort`` (whose tie order depends on the numpy build). ``log=True`` returns the log of the same
probabilities, which keeps the order where float32 probabilities would underflow to 0.

>>> import numpy as np
>>> verb = np.array([[2.0, 1.0]]); noun = np.array([[0.0, 3.0, 1.0]])
>>> verb_of = np.array([0, 0, 1]); noun_of = np.array([1, 2, 1])   # a 3-class action space
>>> action_scores_from_verb_noun(verb, noun, verb_of, noun_of, top_k=2).round(3)  # (0, 2) not kept
array([[0.644,  -inf, 0.237]], dtype=float32)
>>> action_scores_from_verb_noun(verb, noun, verb_of, noun_of, top_k=1)  # one verb, one noun: p = 1
array([[  1., -inf, -inf]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

__all__ = ["OFFICIAL_TOP_K", "action_scores_from_verb_noun"]

OFFICIAL_TOP_K = 100  # top_n of the official evaluator


def _global_log_softmax(top: np.ndarray) -> np.ndarray:
    """``log(scipy.special.softmax(top))`` with scipy's default ``axis=None`` (the whole matrix)."""
    finite = top[np.isfinite(top)]
    if finite.size == 0:
        raise ValueError("every kept score is -inf")
    shift = finite.max()
    return top - (shift + np.log(np.exp(top - shift).sum()))


def _candidate_pairs(k_verbs: int, k_nouns: int, k_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` in the sorted lists with ``(i + 1) * (j + 1) <= k_pairs``.

    At least ``(i + 1) * (j + 1)`` pairs score no lower than ``(i, j)`` (all ``i' <= i, j' <= j``), so no
    other pair can be among the ``k_pairs`` best except through an exact tie.
    """
    i, j = np.meshgrid(np.arange(k_verbs), np.arange(k_nouns), indexing="ij")
    keep = (i + 1) * (j + 1) <= k_pairs
    return i[keep], j[keep]


def action_scores_from_verb_noun(verb_scores: np.ndarray, noun_scores: np.ndarray, verb_of: np.ndarray,
                                 noun_of: np.ndarray, top_k: int = OFFICIAL_TOP_K, *,
                                 log: bool = False) -> np.ndarray:
    """The official evaluator's action scores of each clip over the action space, ``(N, A)`` float32.

    ``verb_scores`` is ``(N, V)`` and ``noun_scores`` ``(N, M)`` (any monotone scores: logits or
    probabilities; ``-inf`` marks a class without a score); ``verb_of`` / ``noun_of`` give the verb and
    noun id of each of the ``A`` action columns. Columns whose pair is not among a clip's ``top_k``
    products are ``-inf``. With ``log=True`` the kept scores are log-probabilities.
    """
    verb_scores = np.asarray(verb_scores)
    noun_scores = np.asarray(noun_scores)
    verb_of = np.asarray(verb_of, dtype=np.int64)
    noun_of = np.asarray(noun_of, dtype=np.int64)
    if verb_scores.ndim != 2 or noun_scores.ndim != 2 or len(verb_scores) != len(noun_scores):
        raise ValueError(f"verb scores {verb_scores.shape} and noun scores {noun_scores.shape} must be (N, V), (N, M)")
    if verb_of.shape != noun_of.shape or verb_of.ndim != 1:
        raise ValueError(f"verb_of {verb_of.shape} and noun_of {noun_of.shape} must be 1-D of one length")
    n_clips, n_verbs = verb_scores.shape
    n_nouns = noun_scores.shape[1]
    if top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    if len(verb_of) and (verb_of.min() < 0 or verb_of.max() >= n_verbs or noun_of.min() < 0
                         or noun_of.max() >= n_nouns):
        raise ValueError("verb_of / noun_of name classes outside the verb / noun score columns")
    for name, scores in (("verb", verb_scores), ("noun", noun_scores)):
        if np.isnan(scores).any() or np.isposinf(scores).any():
            raise ValueError(f"{name} scores must be finite or -inf")

    out = np.full((n_clips, len(verb_of)), -np.inf, dtype=np.float32)
    if n_clips == 0:
        return out
    k_verbs, k_nouns = min(top_k, n_verbs), min(top_k, n_nouns)
    k_pairs = min(top_k, k_verbs * k_nouns)
    rows = np.arange(n_clips)[:, None]

    # Step 1, as the official top_scores: the same argsort call on the scores as given.
    top_verbs = np.argsort(verb_scores, axis=1)[:, ::-1][:, :k_verbs]
    top_nouns = np.argsort(noun_scores, axis=1)[:, ::-1][:, :k_nouns]
    # Step 2: softmax over the whole kept matrix, in log space (float64) so nothing underflows.
    log_p_verb = _global_log_softmax(verb_scores[rows, top_verbs].astype(np.float64))
    log_p_noun = _global_log_softmax(noun_scores[rows, top_nouns].astype(np.float64))

    # Step 3: products (sums of logs) of the candidate pairs, the k_pairs best per clip.
    cand_i, cand_j = _candidate_pairs(k_verbs, k_nouns, k_pairs)
    pair_scores = log_p_verb[:, cand_i] + log_p_noun[:, cand_j]
    if pair_scores.shape[1] > k_pairs:
        best = np.argpartition(-pair_scores, k_pairs - 1, axis=1)[:, :k_pairs]
    else:
        best = np.broadcast_to(np.arange(pair_scores.shape[1]), pair_scores.shape)
    kept = np.take_along_axis(pair_scores, best, axis=1)
    verbs = top_verbs[rows, cand_i[best]]
    nouns = top_nouns[rows, cand_j[best]]

    # Lay the kept pairs out over the action space; pairs outside it are dropped.
    column_of = np.full((n_verbs, n_nouns), -1, dtype=np.int64)
    column_of[verb_of, noun_of] = np.arange(len(verb_of))
    columns = column_of[verbs, nouns]
    inside = columns >= 0
    values = kept if log else np.exp(kept)
    out[np.broadcast_to(rows, columns.shape)[inside], columns[inside]] = values[inside]
    return out
