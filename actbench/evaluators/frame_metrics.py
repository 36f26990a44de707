"""Frame-level metrics: frame accuracy, top-1 accuracy and per-frame mAP, in numpy only.

- Frame accuracy (OAD): the share of frames whose predicted label equals the ground truth, background
  frames included; frames whose *ground truth* is an ignore label (THUMOS' ``ambiguous``) are dropped,
  as the reference evaluation does.
- Top-1 accuracy (COIN step recognition, forecasting, task recognition): the same over clips.
- Per-frame mAP: average precision per class over the concatenated frames of all videos, then the mean
  over classes; background and ignore classes are excluded, classes with no positive frame skipped.
  Average precision is sklearn's ``average_precision_score`` (the non-interpolated sum of precision
  times recall increments, tied scores forming one threshold), reimplemented so that scoring needs no
  sklearn.

>>> round(frame_accuracy(["A", "A", "bg", "amb"], ["A", "B", "bg", "amb"], ignore=("amb",)), 2)  # 2 of 3
66.67
>>> round(average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]), 4)  # 1/2 * 1 + 1/2 * 2/3
0.8333
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from actbench.errors import ActbenchError
from actbench.evaluators.segments import as_labels, label_mask


def frame_accuracy(pred: object, gt: object, *, ignore: Iterable[object] = ()) -> float:
    """Percent of frames with the right label; frames whose ground truth is in ``ignore`` do not count."""
    pred, gt = _pair(pred, gt, "frame_accuracy()")
    keep = ~label_mask(gt, ignore)
    if not keep.any():
        return float("nan")  # no frame to score: like sklearn, no number rather than a made-up one
    return 100 * float(np.mean(pred[keep] == gt[keep]))


def top1_accuracy(pred: object, gt: object) -> float:
    """Percent of samples (clips, videos) whose single predicted label is the ground truth.

    >>> top1_accuracy(["add sugar", "stir"], ["add sugar", "pour"])
    50.0
    """
    return frame_accuracy(pred, gt)


def average_precision(y_true: object, y_score: object) -> float:
    """Average precision of one binary problem, as ``sklearn.metrics.average_precision_score``.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds, in decreasing order; NaN when
    there is no positive (sklearn warns and returns 0 there; callers here skip such classes).
    """
    y_true = np.asarray(y_true).astype(bool, copy=False)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1 or y_true.shape != y_score.shape:
        raise ActbenchError.bad_value("average_precision()", "y_score", f"shape {y_true.shape}, as y_true",
                                      f"shape {y_score.shape}")
    # sklearn's order: a stable sort reversed, so tied scores end up together (and tie order does not
    # matter anyway, because a tie group is one threshold).
    order = np.argsort(y_score, kind="mergesort")[::-1]
    score, truth = y_score[order], y_true[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(score)), truth.size - 1]
    tps = np.cumsum(truth, dtype=np.float64)[last_of_group]
    if tps.size == 0 or tps[-1] == 0:
        return float("nan")
    fps = last_of_group + 1 - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def frame_map(scores: object, gt: object, *, classes: Sequence[object], background: Iterable[object] = (),
              ignore: Iterable[object] = ()) -> float:
    """Per-frame mean average precision in percent.

    ``scores`` is (N, C), column ``j`` scoring class ``classes[j]``; ``gt`` the (N,) per-frame labels
    of the concatenated videos. Frames whose ground truth is an ignore label are dropped first.

    >>> s = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.9, 0.05, 0.05]])
    >>> frame_map(s, ["A", "bg", "A", "bg"], classes=["bg", "A", "B"], background=("bg",))  # B: no positive
    100.0
    """
    gt = as_labels(gt, "frame_map()", "gt")
    scores = np.asarray(scores)
    names = np.asarray(list(classes))
    if scores.ndim != 2 or scores.shape != (gt.size, names.size):
        raise ActbenchError.bad_value("frame_map()", "scores", f"shape ({gt.size}, {names.size}): frames x classes",
                                      f"shape {scores.shape}")
    background, ignore = list(background), list(ignore)
    keep = ~label_mask(gt, ignore)
    gt, scores = gt[keep], scores[keep]
    column = _columns(gt, names)
    aps = []
    for j in np.flatnonzero(~label_mask(names, background + ignore)):
        positive = column == j
        if positive.any():  # a class absent from the ground truth has no defined AP: skipped
            aps.append(average_precision(positive, scores[:, j]))
    return 100 * float(np.mean(aps)) if aps else float("nan")


frame_accuracy.higher_is_better = True  # type: ignore[attr-defined]
top1_accuracy.higher_is_better = True  # type: ignore[attr-defined]
average_precision.higher_is_better = True  # type: ignore[attr-defined]
frame_map.higher_is_better = True  # type: ignore[attr-defined]


def _columns(gt: np.ndarray, names: np.ndarray) -> np.ndarray:
    """The score column of each frame's ground-truth label; a label without a column is an error."""
    if np.unique(names).size != names.size:
        raise ActbenchError.bad_value("frame_map()", "classes", "distinct class names", names.tolist())
    if names.size == 0:
        if gt.size:
            raise ActbenchError.bad_value("frame_map()", "classes", "a score column for every ground-truth label",
                                          "no classes")
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(names, kind="stable")
    sorted_names = names[order]
    position = np.minimum(np.searchsorted(sorted_names, gt), names.size - 1)
    missing = sorted_names[position] != gt
    if missing.any():
        raise ActbenchError.bad_value("frame_map()", "classes", "a score column for every ground-truth label",
                                      f"none for {gt[missing][0]!r}")
    return order[position]


def _pair(pred: object, gt: object, where: str) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = as_labels(pred, where, "pred"), as_labels(gt, where, "gt")
    if pred.shape != gt.shape:
        raise ActbenchError.bad_value(where, "pred", f"{gt.size} labels, as gt", pred.size)
    return pred, gt
