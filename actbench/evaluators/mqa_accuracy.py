"""Multiple-choice accuracy with a seeded bootstrap interval, status counts and letter distribution.

A question counts as correct only when its status is ``ok`` and its letter is the key's; parse
failures, refusals and errors count as wrong and are reported separately.

The bootstrap resamples the n questions with replacement and takes the percentile interval of the
resampled accuracies. For a mean of 0/1 outcomes the number of correct answers in a resample is exactly
Binomial(n, k/n), so it is drawn as such: the same distribution as resampling indices, at a
fraction of the cost.

Multi-label questions (Animal Kingdom, LLaVAction Table 6) are answered with a set of letters: the answer
counts as correct (``accuracy``) only when the set is the key's, and ``jaccard`` gives partial credit, the
mean over questions of |P ∩ T| / |P ∪ T| (P the chosen letters, T the correct ones; a parse failure,
refusal or error chooses nothing and scores 0). It is reported when any question is multi-label.

>>> import numpy as np
>>> accuracy(np.array([True, False, True, True]))
75.0
>>> bootstrap_interval(np.ones(10, dtype=bool), seed=0)
(100.0, 100.0)
>>> jaccard(np.array([[1, 0, 1], [1, 0, 0]], bool), np.array([[1, 1, 0], [1, 0, 0]], bool))  # (1/3 + 1) / 2
66.666667
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from actbench.model_adapters.multi_answer import is_multi_label, key_letters
from actbench.records import LETTERS, STATUSES, Answer, Question


def accuracy(correct: np.ndarray) -> float:
    """Percent of True entries."""
    correct = np.asarray(correct, dtype=bool)
    return 100.0 * float(correct.mean()) if correct.size else float("nan")


accuracy.higher_is_better = True


def jaccard(chosen: np.ndarray, correct: np.ndarray) -> float:
    """Mean Jaccard index (%) of two (n, K) boolean indicator matrices, row by row (sklearn's
    ``jaccard_score(average="samples")``); a row whose two sets are both empty scores 0."""
    chosen, correct = np.asarray(chosen, dtype=bool), np.asarray(correct, dtype=bool)
    if chosen.shape != correct.shape or chosen.ndim != 2:
        raise ValueError(f"expected two (n, K) matrices of the same shape, found {chosen.shape} and {correct.shape}")
    if not len(chosen):
        return float("nan")
    both = np.count_nonzero(chosen & correct, axis=1)
    either = np.count_nonzero(chosen | correct, axis=1)
    return round(100.0 * float(np.mean(np.divide(both, either, out=np.zeros(len(both)), where=either > 0))), 6)


jaccard.higher_is_better = True


def _indicators(letters: str | None, width: int) -> np.ndarray:
    row = np.zeros(width, dtype=bool)
    row[[LETTERS.index(c) for c in letters or ""]] = True
    return row


def bootstrap_interval(correct: np.ndarray, *, seed: int, resamples: int = 10_000,
                       confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`accuracy`, in percent."""
    correct = np.asarray(correct, dtype=bool)
    n = correct.size
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    hits = rng.binomial(n, correct.mean(), size=resamples) / n
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(hits, [alpha, 1.0 - alpha])
    return (round(100.0 * float(low), 6), round(100.0 * float(high), 6))


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"mean": float(values.mean()), "p50": float(p50), "p95": float(p95)}


def score_mqa(questions: Sequence[Question], answers: dict[str, Answer], *, seed: int,
              resamples: int = 10_000) -> dict:
    """The metrics of a finished MQA run (``metrics.json``); questions without an answer are errors.

    A two-stage question whose options miss the ground truth (no key) can only be answered wrongly:
    it counts in n, and ``upper_bound`` is the share of questions that have a correct option.
    """
    status = Counter()
    chosen = Counter()
    correct = np.zeros(len(questions), dtype=bool)
    n_letters = max((len(q.options) for q in questions), default=0)
    given: list[str | None] = [None] * len(questions)  # the letters of each ok answer
    for i, q in enumerate(questions):
        a = answers.get(q.id)
        if a is None:
            status["missing"] += 1
            continue
        status[a.status] += 1
        if a.status == "ok":
            chosen.update(a.answer)  # each letter of a multi-label answer ("AC") once
            key = key_letters(q)
            correct[i] = key is not None and a.answer == key
            given[i] = a.answer
    low, high = bootstrap_interval(correct, seed=seed, resamples=resamples)
    latency = np.array([a.latency_s for a in answers.values()], dtype=np.float64)
    keyed = [q for q in questions if q.answer_letter is not None]
    extra = {}
    if any(is_multi_label(q) for q in questions):
        picked = np.array([_indicators(letters, n_letters) for letters in given], dtype=bool).reshape(-1, n_letters)
        truth = np.array([_indicators(key_letters(q), n_letters) for q in questions], dtype=bool)
        extra["jaccard"] = jaccard(picked, truth)
    return {
        "n": len(questions),
        "upper_bound": round(100.0 * len(keyed) / len(questions), 6) if questions else float("nan"),
        "correct": int(correct.sum()),
        "accuracy": round(accuracy(correct), 6),
        "accuracy_ci95": [low, high],
        **extra,
        "bootstrap": {"method": "percentile", "resamples": resamples, "seed": seed},
        "status_counts": {s: status.get(s, 0) for s in (*STATUSES, "missing")},
        "chosen_letters": {LETTERS[i]: chosen.get(LETTERS[i], 0) for i in range(n_letters)},
        "answer_letters": dict(sorted(Counter(c for q in keyed for c in key_letters(q)).items())),
        "latency_s": _percentiles(latency),
        "tokens_in": int(sum(a.tokens_in for a in answers.values())),
        "tokens_out": int(sum(a.tokens_out for a in answers.values())),
        "cost_usd": round(float(sum(a.cost_usd for a in answers.values())), 6),
    }
