"""EPIC-KITCHENS-100 action recognition: verb, noun and action top-1 / top-5, unseen and tail top-1.

As the official evaluator computes them (epic-kitchens/C1-Action-Recognition, ``evaluate.py`` and
``utils/metrics.py``: ``compute_metrics``, ``topk_accuracy``):

- top-k accuracy is the share of clips whose ground truth is among the k best scores (a mean over
  clips, a micro average); the official code returns a fraction, ``evaluate.py`` prints it x 100;
- action scores come from the verb and noun scores (``utils/scoring.py``, ``compute_action_scores``,
  see :mod:`actbench.evaluators.action_scores`): softmax over the top-100 verb and top-100 noun scores,
  all pairwise products, the 100 best pairs. Any (verb, noun) pair can be predicted, also one outside
  the 3,806 pairs of the label space; such a prediction is simply wrong. The ground truth is the pair;
- unseen: top-1 over the clips of the unseen participants (P18, P32 on validation), micro;
- tail (top-1, micro): verb over the clips whose verb is a tail verb, noun over those whose noun is a
  tail noun, action over those whose verb *or* noun is a tail class (``tail_verb | tail_noun``).
  Subsets with no clip give NaN here (the official code skips unseen with a warning and raises on an
  empty tail set).

Ranks. A clip's rank is the number of *other* classes scoring at least as high as its ground truth;
top-k is ``rank < k``. Exact ties therefore count against the model; the official ``argsort`` breaks
them in an order that depends on the numpy build, so no rule reproduces it everywhere. A ground truth
scored ``-inf`` (not ranked) is never a hit (unless k covers every class). The official softmax
changes nothing in the ranking (it scales every kept probability of the file by one constant), so
pairs are ranked by ``verb_score + noun_score`` over all verb x noun pairs. Only ranks below 100 mean
the same as in the official ranking (it keeps 100 pairs): a pair that its top-100 verb / noun cut
drops has at least 99 other pairs scoring as high or higher, so the cut changes no top-k for k < 100.
(The official code multiplies float32 probabilities when given float32 scores; pairs that differ in
the last float32 bit may order differently there, a tie in all but name.)

Formats with action scores only (AVION's logits, the generic scores file, LLaVAction's ranked lists)
get verb and noun scores by marginalising: ``P(action)`` is the softmax of the clip's action scores
over the label space (``-inf`` -> 0; scores that already are probabilities, like TIM's ``action``, are
taken as they are), ``P(verb v) = sum of P(v, n) over nouns n`` and ``P(noun n)`` likewise. Their action
metrics use the file's action scores directly (the label space is all they rank).

>>> import numpy as np
>>> verb = np.array([[3.0, 1.0], [0.0, 2.0]]); noun = np.array([[0.0, 1.0, 5.0], [4.0, 0.0, 1.0]])
>>> m = ek100_recognition(verb, noun, np.array([0, 0]), np.array([2, 1]), unseen=np.array([False, True]),
...                       tail_verbs=[1], tail_nouns=[1])
>>> m["verb_top1"], m["noun_top1"], m["action_top1"], m["action_top5"], m["unseen_noun_top1"]
(50.0, 50.0, 50.0, 50.0, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = ["KEYS", "RecognitionInputs", "ek100_recognition", "load_recognition_inputs", "marginal_scores",
           "pair_truth_ranks", "score_recognition", "topk_accuracy", "truth_ranks"]

KEYS = ("verb_top1", "verb_top5", "noun_top1", "noun_top5", "action_top1", "action_top5",
        "unseen_verb_top1", "unseen_noun_top1", "unseen_action_top1",
        "tail_verb_top1", "tail_noun_top1", "tail_action_top1")
_PAIR_CHUNK_CELLS = 4_000_000  # clips x verbs x nouns per block of pair_truth_ranks (~32 MB of float64)
_MARGINAL_CHUNK = 512  # clips per block of marginal_scores


def _scores_labels(scores, labels, name: str) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"{name}: scores {scores.shape} and labels {labels.shape} must be (N, C) and (N,)")
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"{name}: labels must be class indices in [0, {scores.shape[1]})")
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise ValueError(f"{name}: scores must be finite or -inf")
    return scores, labels.astype(np.int64)


def truth_ranks(scores, labels) -> np.ndarray:
    """Per clip, the number of other classes scoring at least as high as the ground truth (0 = top-1)."""
    scores, labels = _scores_labels(scores, labels, "truth_ranks")
    truth = scores[np.arange(len(labels)), labels]
    return (scores >= truth[:, None]).sum(axis=1).astype(np.int64) - 1


def topk_accuracy(scores, labels, *, k: int = 1) -> float:
    """Percent of clips whose ground truth is among the ``k`` best scores (ties count against); NaN if none.

    >>> topk_accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]), k=1)
    50.0
    """
    return _percent(truth_ranks(scores, labels) < k)


topk_accuracy.higher_is_better = True


def pair_truth_ranks(verb_scores, noun_scores, verb_labels, noun_labels) -> np.ndarray:
    """Rank of each clip's (verb, noun) pair among all verb x noun pairs, by ``verb + noun`` score.

    This is the rank of the ground truth in the official derived action ranking (for ranks below 100,
    see the module docstring).
    """
    verb, verb_labels = _scores_labels(verb_scores, verb_labels, "verb")
    noun, noun_labels = _scores_labels(noun_scores, noun_labels, "noun")
    if len(verb) != len(noun):
        raise ValueError(f"verb scores {verb.shape} and noun scores {noun.shape} cover different clips")
    n, n_verbs = verb.shape
    n_nouns = noun.shape[1]
    ranks = np.empty(n, dtype=np.int64)
    step = max(1, _PAIR_CHUNK_CELLS // max(1, n_verbs * n_nouns))
    for start in range(0, n, step):
        rows = slice(start, start + step)
        v = verb[rows].astype(np.float64)
        m = noun[rows].astype(np.float64)
        r = np.arange(len(v))
        truth = v[r, verb_labels[rows]] + m[r, noun_labels[rows]]
        pairs = v[:, :, None] + m[:, None, :]  # -inf + finite = -inf; no +inf, so never NaN
        ranks[rows] = (pairs >= truth[:, None, None]).sum(axis=(1, 2)) - 1
    return ranks


def marginal_scores(action_scores, verb_of, noun_of, *, n_verbs: int, n_nouns: int,
                    probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(N, n_verbs)`` and ``(N, n_nouns)`` float64: each clip's action probabilities summed per verb / noun.

    ``verb_of[a]`` / ``noun_of[a]`` are the verb and noun of action column ``a``. With
    ``probabilities=False`` the scores are softmaxed per clip first (``-inf`` -> 0); with ``True`` they
    are summed as given.

    >>> verb, noun = marginal_scores(np.array([[0.5, 0.2, 0.3]]), np.array([1, 0, 1]), np.array([0, 0, 2]),
    ...                              n_verbs=2, n_nouns=3, probabilities=True)
    >>> verb, noun
    (array([[0.2, 0.8]]), array([[0.7, 0. , 0.3]]))
    """
    scores = np.asarray(action_scores)
    if scores.ndim != 2:
        raise ValueError(f"action scores must be (N, A), got {scores.shape}")
    groups = []
    for name, class_of, n_classes in (("verb_of", verb_of, n_verbs), ("noun_of", noun_of, n_nouns)):
        class_of = np.asarray(class_of, dtype=np.int64)
        if class_of.shape != (scores.shape[1],):
            raise ValueError(f"{name} {class_of.shape} must give a class for each of the {scores.shape[1]} columns")
        if class_of.size and (class_of.min() < 0 or class_of.max() >= n_classes):
            raise ValueError(f"{name} must hold classes in [0, {n_classes})")
        order = np.argsort(class_of, kind="stable")
        present, starts = np.unique(class_of[order], return_index=True)
        groups.append((order, present, starts, np.zeros((len(scores), n_classes), dtype=np.float64)))
    if np.isnan(scores).any() or np.isposinf(scores).any():
        raise ValueError("action scores must be finite or -inf")
    if probabilities and (scores < 0).any():
        raise ValueError("probabilities must not be negative")
    for start in range(0, len(scores), _MARGINAL_CHUNK):  # blocks of clips: the softmax stays in cache
        block = scores[start:start + _MARGINAL_CHUNK].astype(np.float64)
        if not probabilities:
            top = block.max(axis=1, keepdims=True)
            top[~np.isfinite(top)] = 0.0  # a row without any score: all -inf -> all 0
            block = np.exp(block - top)
            block /= np.maximum(block.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
        for order, present, starts, out in groups:
            if present.size:
                out[start:start + len(block), present] = np.add.reduceat(block[:, order], starts, axis=1)
    return groups[0][3], groups[1][3]


def _percent(hits: np.ndarray) -> float:
    # 100 * count / n in integers: 300 of 1000 is exactly 30.0, not 100 * 0.3 = 30.000000000000004
    return 100 * int(hits.sum()) / hits.size if hits.size else float("nan")


def ek100_recognition(verb_scores, noun_scores, verb_labels, noun_labels, *, unseen, tail_verbs: Iterable[int],
                      tail_nouns: Iterable[int], action_scores=None, action_labels=None) -> dict[str, float]:
    """The twelve metrics of :data:`KEYS`, in percent (NaN for an empty unseen / tail subset).

    ``unseen`` marks the clips of unseen participants. Actions are ranked by the official derivation
    from ``verb_scores`` and ``noun_scores``, unless ``action_scores`` (``(N, A)`` over a label space)
    and ``action_labels`` (each clip's column) are given.
    """
    verb_labels = np.asarray(verb_labels, dtype=np.int64)
    noun_labels = np.asarray(noun_labels, dtype=np.int64)
    unseen = np.asarray(unseen, dtype=bool)
    if unseen.shape != verb_labels.shape:
        raise ValueError(f"unseen {unseen.shape} must mark each of the {len(verb_labels)} clips")
    verb_rank = truth_ranks(verb_scores, verb_labels)
    noun_rank = truth_ranks(noun_scores, noun_labels)
    if (action_scores is None) != (action_labels is None):
        raise ValueError("give both action_scores and action_labels, or neither")
    if action_scores is None:
        action_rank = pair_truth_ranks(verb_scores, noun_scores, verb_labels, noun_labels)
    else:
        action_rank = truth_ranks(action_scores, action_labels)
    if not len(verb_rank) == len(noun_rank) == len(action_rank):
        raise ValueError("verb, noun and action scores cover different numbers of clips")
    tail_verb = np.isin(verb_labels, np.fromiter(tail_verbs, dtype=np.int64))
    tail_noun = np.isin(noun_labels, np.fromiter(tail_nouns, dtype=np.int64))
    tail_action = tail_verb | tail_noun
    metrics = {}
    for task, rank in (("verb", verb_rank), ("noun", noun_rank), ("action", action_rank)):
        metrics[f"{task}_top1"] = _percent(rank < 1)
        metrics[f"{task}_top5"] = _percent(rank < 5)
    for task, rank in (("verb", verb_rank), ("noun", noun_rank), ("action", action_rank)):
        metrics[f"unseen_{task}_top1"] = _percent(rank[unseen] < 1)
    for task, rank, subset in (("verb", verb_rank, tail_verb), ("noun", noun_rank, tail_noun),
                               ("action", action_rank, tail_action)):
        metrics[f"tail_{task}_top1"] = _percent(rank[subset] < 1)
    return {key: metrics[key] for key in KEYS}


ek100_recognition.higher_is_better = True


# -- the prediction file boundary ------------------------------------------------------------------


@dataclass(frozen=True)
class RecognitionInputs:
    """One prediction file as the metrics need it: rows are the file's clips, in its order."""

    narration_ids: tuple[str, ...]
    verb_scores: np.ndarray  # (N, 97): the file's own, or marginalised from its action scores
    noun_scores: np.ndarray  # (N, 300)
    action_scores: np.ndarray | None  # (N, 3806) when actions are ranked by the file's action scores
    verb_noun_from_file: bool  # False: verb / noun are marginals of the action scores


def _tim_verb_noun(ctx, ids):
    from actbench.mqa_builder.ranking import check_scores
    from actbench.mqa_builder.safe_pickle import load_pickle

    data = load_pickle(ctx.predictions)  # its keys and shapes were checked by the tim source
    if "verb" not in data or "noun" not in data:
        return None
    n = len(ids)
    return (check_scores(data["verb"], ctx.predictions, (n, len(ctx.dataset.verb_classes)), field="verb"),
            check_scores(data["noun"], ctx.predictions, (n, len(ctx.dataset.noun_classes)), field="noun"))


def _epic_json_verb_noun(ctx, ids):
    from actbench.mqa_builder.sources.epic_json import _fill, load_json

    results = load_json(ctx.predictions, allow_zip=True)["results"]  # checked by the epic-json source
    n_verbs, n_nouns = len(ctx.dataset.verb_classes), len(ctx.dataset.noun_classes)
    verb_keys, noun_keys = [str(i) for i in range(n_verbs)], [str(i) for i in range(n_nouns)]
    verb = np.full((len(ids), n_verbs), -np.inf)
    noun = np.full((len(ids), n_nouns), -np.inf)
    for row, nid in enumerate(ids):
        where = f"{ctx.predictions}: results.{nid}"
        _fill(verb[row], results[nid]["verb"], where, "verb", verb_keys)
        _fill(noun[row], results[nid]["noun"], where, "noun", noun_keys)
    return verb, noun


# Sources whose files carry verb and noun scores of their own, and whether their action scores are
# already probabilities (for the marginals when the verb / noun scores are absent).
_VERB_NOUN_READERS = {"tim": _tim_verb_noun, "epic-json": _epic_json_verb_noun}
_ACTION_PROBABILITIES = frozenset({"tim"})
_NO_ACTION_HEAD = frozenset({"epic-json"})  # its action scores are themselves derived from verb x noun


def load_recognition_inputs(source: str, predictions: Path, dataset, *, action_head: bool = False) -> RecognitionInputs:
    """Read a prediction file through the builder's source registry, on the validation split.

    ``action_head``: rank actions by the file's own action scores even when it has verb and noun scores
    (TIM's action head) instead of the official derivation.
    """
    from actbench.errors import ActbenchError
    from actbench.mqa_builder.ranking import SourceContext
    from actbench.mqa_builder.sources import SOURCES

    rank = SOURCES.get(source)
    predictions = Path(predictions)
    ctx = SourceContext(dataset, "validation", dataset.validation, predictions, seed=0)
    ctx.check_predictions()
    ranking = rank(ctx)
    if not ctx.read_predictions:
        raise ActbenchError(f"source '{source}' does not read a prediction file: it cannot be scored")
    if action_head and source in _NO_ACTION_HEAD:
        raise ActbenchError.bad_value("--action-head", "action-head", "a source with action scores of its own "
                                      "(tim)", f"source '{source}', whose actions come from verb x noun")
    ids = ranking.narration_ids
    reader = _VERB_NOUN_READERS.get(source)
    verb_noun = reader(ctx, ids) if reader is not None else None
    if verb_noun is not None:
        action = ranking.scores if action_head else None
        return RecognitionInputs(ids, verb_noun[0], verb_noun[1], action, True)
    space = dataset.action_space
    probabilities = source in _ACTION_PROBABILITIES
    verb, noun = marginal_scores(ranking.scores, space.verb_of, space.noun_of, n_verbs=len(dataset.verb_classes),
                                 n_nouns=len(dataset.noun_classes), probabilities=probabilities)
    return RecognitionInputs(ids, verb, noun, ranking.scores, False)


def score_recognition(inputs: RecognitionInputs, dataset) -> dict[str, float]:
    """:func:`ek100_recognition` of a read file against the validation annotations."""
    by_id = {c.narration_id: c for c in dataset.validation}
    clips = [by_id[nid] for nid in inputs.narration_ids]
    verb_labels = np.array([c.verb_class for c in clips], dtype=np.int64)
    noun_labels = np.array([c.noun_class for c in clips], dtype=np.int64)
    unseen = np.array([c.participant_id in dataset.unseen_participants for c in clips], dtype=bool)
    action_labels = dataset.action_ids(clips) if inputs.action_scores is not None else None
    return ek100_recognition(inputs.verb_scores, inputs.noun_scores, verb_labels, noun_labels, unseen=unseen,
                             tail_verbs=dataset.tail_verbs, tail_nouns=dataset.tail_nouns,
                             action_scores=inputs.action_scores, action_labels=action_labels)
