"""Segment F1 @ IoU tau for online action detection, exactly as the reference code computes it.

Rule (Pang et al. 2025, the GAD code; the greedy rule of MS-TCN's ``f_score``): per video, predicted
segments in time order each take the ground-truth segment *of the same label* with the highest IoU
(the first one on ties). The prediction is a hit if that IoU is >= tau and that ground-truth segment
is not hit yet; otherwise it is a false positive, even when some other, unmatched ground-truth segment
would have qualified. Unhit ground-truth segments are false negatives. TP / FP / FN are summed over
videos (micro), then ``P = TP / (TP + FP + 1e-8)``, ``R = TP / (TP + FN + 1e-8)``,
``F1 = 2PR / (P + R + 1e-16)``, all x100. The balanced form computes F1 per class (TP / FP / FN of
that class summed over videos) and averages it over the non-background classes.

Which ground-truth segment a prediction takes does not depend on what was hit before, so the greedy
loop vectorises: a ground-truth segment is hit by the *first* prediction (in time order) that takes
it with IoU >= tau, and every other prediction is a false positive.

>>> import numpy as np
>>> gt   = np.array(["A"] * 10 + ["bg"] * 2 + ["A"] * 10)
>>> pred = np.array(["A"] * 5 + ["bg"] + ["A"] * 8 + ["bg"] * 8)
>>> round(segment_f1(pred, gt, tau=0.1, background=("bg",)), 4)  # the 2nd prediction re-takes GT 1
50.0
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from actbench.errors import ActbenchError
from actbench.evaluators.segments import Segments, as_labels, find_segments, label_mask

EPS = 1e-8  # in the denominators of P and R, as the reference code
SEGMENT_F1_EPS = 1e-16  # in the denominator of the segment F1 (point F1 uses 1e-8)


def precision_recall_f1(tp, fp, fn, *, f1_eps: float):
    """P, R, F1 as fractions (scalars or per-class arrays), with the reference code's epsilons."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    precision = tp / (tp + fp + EPS)
    recall = tp / (tp + fn + EPS)
    return precision, recall, 2 * precision * recall / (precision + recall + f1_eps)


def match_segments(pred: Segments, gt: Segments) -> tuple[np.ndarray, np.ndarray]:
    """For each predicted segment, the ground-truth segment it takes and their IoU.

    Returns ``(taken, iou)``: ``taken[i]`` indexes ``gt`` (-1 when no ground-truth segment of the same
    label overlaps prediction ``i``, whose IoU is then 0 with all of them) and ``iou[i]`` is the IoU.
    """
    if not np.array_equal(pred.offsets, gt.offsets):
        raise ActbenchError.bad_value("match_segments()", "offsets", "predictions and ground truth of the same "
                                      "videos and lengths", "different video lengths")
    ps, pe, gs, ge = pred.global_start, pred.global_end, gt.global_start, gt.global_end
    # Ground-truth segments are disjoint and sorted, so those overlapping [s, e) are one index range:
    # from the first ending after s to the last starting before e. Non-overlapping ones have IoU 0 and
    # can never reach tau > 0, so only these pairs matter.
    lo = np.searchsorted(ge, ps, side="right")
    hi = np.searchsorted(gs, pe, side="left")
    count = np.maximum(hi - lo, 0)
    pair_pred = np.repeat(np.arange(len(pred)), count)
    first_pair = np.cumsum(count) - count
    pair_gt = np.arange(pair_pred.size) - np.repeat(first_pair, count) + np.repeat(lo, count)
    same = pred.label[pair_pred] == gt.label[pair_gt]
    pair_pred, pair_gt = pair_pred[same], pair_gt[same]
    inter = np.minimum(pe[pair_pred], ge[pair_gt]) - np.maximum(ps[pair_pred], gs[pair_gt])
    union = (pe - ps)[pair_pred] + (ge - gs)[pair_gt] - inter
    iou = inter / union
    # Best IoU per prediction, the first (earliest) ground-truth segment on ties: pairs come ordered by
    # prediction then ground truth, and lexsort is stable, so sorting on (prediction, -IoU) keeps that.
    order = np.lexsort((-iou, pair_pred))
    pair_pred, pair_gt, iou = pair_pred[order], pair_gt[order], iou[order]
    head = np.ones(pair_pred.size, dtype=bool)
    head[1:] = pair_pred[1:] != pair_pred[:-1]
    taken = np.full(len(pred), -1, dtype=np.int64)
    best = np.zeros(len(pred), dtype=np.float64)
    taken[pair_pred[head]] = pair_gt[head]
    best[pair_pred[head]] = iou[head]
    return taken, best


def first_hits(taken: np.ndarray, qualifies: np.ndarray) -> np.ndarray:
    """Which predictions are hits: the first qualifying prediction (in order) for each taken target."""
    candidates = np.flatnonzero(qualifies)
    _, first = np.unique(taken[candidates], return_index=True)
    hit = np.zeros(taken.size, dtype=bool)
    hit[candidates[first]] = True
    return hit


def segment_hits(pred: Segments, gt: Segments, *, tau: float,
                 match: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(pred_hit, gt_hit)``: boolean masks of the true-positive predictions and the hit ground truth."""
    _check_tau(tau)
    taken, iou = match_segments(pred, gt) if match is None else match
    pred_hit = first_hits(taken, (taken >= 0) & (iou >= tau))
    gt_hit = np.zeros(len(gt), dtype=bool)
    gt_hit[taken[pred_hit]] = True
    return pred_hit, gt_hit


def segment_scores(pred: object, gt: object, *, lengths: Sequence[int] | np.ndarray | None = None,
                   taus: Iterable[float] = (0.1, 0.25, 0.5), background: Iterable[object] = (),
                   ignore: Iterable[object] = ()) -> dict[float, tuple[float, float, float]]:
    """``{tau: (precision, recall, f1)}`` in percent, micro over videos, matching segments only once.

    >>> scores = segment_scores([0, 1, 1, 1], [0, 1, 1, 0], taus=(0.5, 0.7), background=(0,))
    >>> {tau: tuple(round(v, 4) for v in prf) for tau, prf in scores.items()}  # IoU 2/3
    {0.5: (100.0, 100.0, 100.0), 0.7: (0.0, 0.0, 0.0)}
    """
    pred_seg, gt_seg = paired_segments(pred, gt, lengths, background, ignore, "segment_scores()")
    match = match_segments(pred_seg, gt_seg)
    out = {}
    for tau in taus:
        pred_hit, _ = segment_hits(pred_seg, gt_seg, tau=tau, match=match)
        tp = int(pred_hit.sum())
        p, r, f1 = precision_recall_f1(tp, len(pred_seg) - tp, len(gt_seg) - tp, f1_eps=SEGMENT_F1_EPS)
        # Not rounded: the reference rounds only the point metrics (a perfect score is 99.999999...).
        out[tau] = (100 * float(p), 100 * float(r), 100 * float(f1))
    return out


def segment_f1(pred: object, gt: object, *, lengths: Sequence[int] | np.ndarray | None = None,
               tau: float = 0.1, background: Iterable[object] = (), ignore: Iterable[object] = ()) -> float:
    """Segment F1 @ IoU ``tau`` in percent, micro over the videos (see the module docstring)."""
    return segment_scores(pred, gt, lengths=lengths, taus=(tau,), background=background, ignore=ignore)[tau][2]


def balanced_segment_f1(pred: object, gt: object, *, lengths: Sequence[int] | np.ndarray | None = None,
                        tau: float = 0.1, background: Iterable[object] = (), ignore: Iterable[object] = (),
                        classes: Iterable[object] | None = None) -> float:
    """Per-class segment F1 summed over the classes / (C - number of background and ignore classes), x100.

    ``classes`` is the dataset's class list (C counts it all); without it, the classes are the labels
    present in ``pred`` or ``gt``. A class without any segment has F1 0 and still counts in C.

    >>> round(balanced_segment_f1(["A", "A", "B", "B"], ["A", "A", "B", "C"], classes=["A", "B", "C", "D"]), 4)
    50.0
    """
    background, ignore = list(background), list(ignore)
    pred_seg, gt_seg = paired_segments(pred, gt, lengths, background, ignore, "balanced_segment_f1()")
    pred_hit, _ = segment_hits(pred_seg, gt_seg, tau=tau)
    observed = np.concatenate([pred_seg.label, gt_seg.label])
    if classes is None:
        names = np.unique(observed)
    else:
        names = np.unique(np.asarray(list(classes)))
        names = names[~label_mask(names, background + ignore)]
        unknown = observed[~np.isin(observed, names)]
        if unknown.size:
            raise ActbenchError.bad_value("balanced_segment_f1()", "classes", "every predicted and ground-truth "
                                          "label among the classes", f"label {unknown[0]!r}")
    if names.size == 0:
        return 0.0
    pred_code = np.searchsorted(names, pred_seg.label)
    gt_code = np.searchsorted(names, gt_seg.label)
    tp = np.bincount(pred_code[pred_hit], minlength=names.size)
    fp = np.bincount(pred_code[~pred_hit], minlength=names.size)
    fn = np.bincount(gt_code, minlength=names.size) - tp
    _, _, f1 = precision_recall_f1(tp, fp, fn, f1_eps=SEGMENT_F1_EPS)
    # Background / ignore classes have no segments, so their F1 is 0: summing over the action classes
    # and dividing by their number is the reference's "sum over C classes / (C - background classes)".
    return 100 * float(f1.sum()) / names.size


for _metric in (segment_scores, segment_f1, balanced_segment_f1):
    _metric.higher_is_better = True  # type: ignore[attr-defined]


def _check_tau(tau: float) -> None:
    if not 0 < tau <= 1:
        # tau = 0 would make every prediction a hit on the first segment it meets, IoU 0 included.
        raise ActbenchError.bad_value("segment F1", "tau", "an IoU threshold in (0, 1]", tau)


def paired_segments(pred, gt, lengths, background, ignore, where: str) -> tuple[Segments, Segments]:
    pred, gt = as_labels(pred, where, "pred"), as_labels(gt, where, "gt")
    if pred.shape != gt.shape:
        raise ActbenchError.bad_value(where, "pred", f"{gt.size} per-frame labels, as gt", pred.size)
    drop = list(background) + list(ignore)
    return find_segments(pred, lengths=lengths, drop=drop), find_segments(gt, lengths=lengths, drop=drop)
