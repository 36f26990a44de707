"""DScore (GAD Appendix B.3) and memorization rate (Appendix D): hand-worked cases and a dense reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actbench.evaluators.dscore import dscore, memorization_rate
from actbench.evaluators.oad_report import oad_dscore

BG, AMB = "bg", "amb"


def dense_dscore(pred, gt, background, ignore, eps=1e-12):
    """The paper's recipe, literally: a dense confusion matrix and -sum p log(p + eps) per row."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    keep = ~np.isin(gt, ignore)
    pred, gt = pred[keep], gt[keep]
    names = sorted(set(pred) | set(gt))
    index = {n: i for i, n in enumerate(names)}
    matrix = np.zeros((len(names), len(names)))
    for p, g in zip(pred, gt):
        matrix[index[g], index[p]] += 1
    np.fill_diagonal(matrix, 0)
    for b in background:
        if b in index:
            matrix[:, index[b]] = 0
    entropies = []
    for name in names:
        if name in background or name in ignore or name not in set(gt):
            continue
        row = matrix[index[name]]
        p = row / row.sum() if row.sum() else row
        entropies.append(-np.sum(p * np.log(p + eps)))
    return float(np.mean(entropies))


def test_hand_worked_dscore():
    pred = ["A"] * 5 + ["B"] * 2 + ["C"] * 2 + [BG] * 3 + ["B"] * 4 + ["A"]
    gt = ["A"] * 12 + ["B"] * 4 + ["C"]
    # A's errors: B 2, C 2 (background ones left out) -> ln 2; B: none -> 0; C: all to A -> 0.
    assert dscore(pred, gt, background=(BG,)) == pytest.approx(math.log(2) / 3)


def test_uniform_errors_over_k_classes_give_ln_k():
    gt = ["A"] * 6
    assert dscore(["B", "C", "D", "E", "F", "G"], gt) == pytest.approx(math.log(6))
    assert dscore(["B", "B", "C", "C", "A", "A"], gt) == pytest.approx(math.log(2))
    assert dscore(gt, gt) == 0.0  # no error at all


def test_background_rows_and_columns_absent_classes_and_ignored_frames():
    # Background as ground truth is no row; background as prediction is no error; "D", predicted but
    # absent from the ground truth, has no row; ambiguous frames are dropped.
    pred = ["A", "C", "D", BG, "A", "B", "C"]
    gt = [BG, BG, BG, "A", "B", AMB, AMB]
    # A: only a background error -> 0 ; B: all to A -> 0.
    assert dscore(pred, gt, background=(BG,), ignore=(AMB,)) == 0.0
    assert np.isnan(dscore(["A"], [BG], background=(BG,)))  # no action class to average over


@pytest.mark.parametrize("seed", range(4))
def test_dscore_equals_the_dense_confusion_matrix_recipe(seed):
    rng = np.random.default_rng(seed)
    labels = [BG, AMB] + [f"c{i}" for i in range(8)]
    gt = rng.choice(labels, 400, p=[0.3, 0.05] + [0.65 / 8] * 8)
    pred = np.where(rng.random(400) < 0.5, gt, rng.choice(labels[:1] + labels[2:], 400))
    assert dscore(pred, gt, background=(BG,), ignore=(AMB,)) == pytest.approx(
        dense_dscore(pred, gt, (BG,), (AMB,)), abs=1e-9)


def test_dscore_is_invariant_to_sample_order_and_class_names():
    rng = np.random.default_rng(3)
    gt = rng.choice(["A", "B", "C", BG], 300)
    pred = np.where(rng.random(300) < 0.4, gt, rng.choice(["A", "B", "C", BG], 300))
    value = dscore(pred, gt, background=(BG,))
    order = rng.permutation(300)
    assert dscore(pred[order], gt[order], background=(BG,)) == pytest.approx(value)
    rename = np.vectorize({"A": "x", "B": "q", "C": "a", BG: BG}.get)
    assert dscore(rename(pred), rename(gt), background=(BG,)) == pytest.approx(value)
    codes = np.vectorize({"A": 5, "B": 1, "C": 9, BG: 0}.get)  # integer class ids work too
    assert dscore(codes(pred), codes(gt), background=(0,)) == pytest.approx(value)


def test_oad_dscore_concatenates_videos_in_any_order():
    gt = {"v1": ["A", "A", BG], "v2": ["A", "B"]}
    pred = {"v1": ["B", "C", "A"], "v2": ["A", "A"]}
    expected = {"dscore": pytest.approx(math.log(2) / 2)}  # A: B 1, C 1 -> ln 2 ; B: all to A -> 0
    assert oad_dscore(pred, gt, background=(BG,)) == expected
    assert oad_dscore(dict(reversed(pred.items())), dict(reversed(gt.items())), background=(BG,)) == expected


def test_memorization_rate():
    train = ["add sugar", "stir mixture", "pour milk"]
    outputs = ["Add sugar.", "stir mixture", "whisk the eggs", "pour  milk"]
    assert memorization_rate(outputs, train) == pytest.approx(50.0)  # "pour  milk" differs inside
    assert memorization_rate(outputs, train, normalize=False) == pytest.approx(25.0)
    assert memorization_rate(["x"] * 3, ["x"]) == 100.0
    assert np.isnan(memorization_rate([], train))


def test_directions():
    assert dscore.higher_is_better is False and memorization_rate.higher_is_better is False
