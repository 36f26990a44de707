"""Letter balance, the bootstrap interval against index resampling, and metrics.json counts."""

from __future__ import annotations

import numpy as np
import pytest

from actbench.evaluators.mqa_accuracy import accuracy, bootstrap_interval, score_mqa
from actbench.mqa_builder.letters import arrange
from actbench.records import Answer, Question


@pytest.mark.parametrize("n, k", [(1, 5), (4, 5), (9668, 5), (101, 4), (37, 20)])
def test_each_letter_holds_the_answer_within_one_of_n_over_k(n, k):
    answer, slots = arrange(n, k, seed=3)
    counts = np.bincount(answer, minlength=k)
    assert counts.max() - counts.min() <= 1 and counts.sum() == n
    full = np.concatenate([answer[:, None], slots], axis=1)
    assert (np.sort(full, axis=1) == np.arange(k)).all()  # every slot used exactly once
    again = arrange(n, k, seed=3)
    assert np.array_equal(again[0], answer) and np.array_equal(again[1], slots)


def test_bootstrap_matches_resampling_indices():
    rng = np.random.default_rng(1)
    correct = rng.random(400) < 0.37
    naive = np.array([correct[rng.integers(0, 400, 400)].mean() for _ in range(20000)]) * 100
    low, high = bootstrap_interval(correct, seed=0, resamples=20000)
    assert abs(low - np.quantile(naive, 0.025)) < 0.6 and abs(high - np.quantile(naive, 0.975)) < 0.6
    assert bootstrap_interval(correct, seed=0) == bootstrap_interval(correct, seed=0)
    assert accuracy(correct) == pytest.approx(100 * correct.mean())


def _question(i, key="B"):
    return Question(f"v_{i}", "v", 0.0, 1.0, "?", ("a", "b", "c"), "ABC".index(key), key, ("0:0", "0:1", "0:2"),
                    (1, 2, 3))


def test_score_mqa_counts_statuses_and_letters():
    questions = [_question(i) for i in range(5)]
    answers = {"v_0": Answer("v_0", "B", "ok", "B", 1.0), "v_1": Answer("v_1", "A", "ok", "A", 2.0),
               "v_2": Answer("v_2", None, "parse_fail", "?", 3.0), "v_3": Answer("v_3", None, "error", "x", 4.0)}
    m = score_mqa(questions, answers, seed=0)
    assert m["n"] == 5 and m["correct"] == 1 and m["accuracy"] == 20.0
    assert m["status_counts"] == {"ok": 2, "parse_fail": 1, "refused": 0, "error": 1, "missing": 1}
    assert m["chosen_letters"] == {"A": 1, "B": 1, "C": 0}
    assert m["answer_letters"] == {"B": 5}
    assert m["latency_s"]["p50"] == 2.5
