"""Point F1 for action starts @ 1 s / 2 s (online detection of action start), as the reference code.

Rule (Pang et al. 2025, the GAD code): the start of each predicted segment (background and ignore
runs dropped, see ``segments``), in time order, is compared with the *nearest* ground-truth segment
start of any class in the same video (the earlier one when two are equally near). It is a hit only if
the distance is <= ``seconds * fps`` frames, the two labels match and that ground-truth start is not hit
yet; otherwise it is a false positive. Unhit ground-truth starts are false negatives. TP / FP / FN are
summed over videos, ``P = TP / (TP + FP + 1e-8)``, ``R = TP / (TP + FN + 1e-8)``,
``F1 = 2PR / (P + R + 1e-8)``, each x100 and rounded to 2 decimals.

As for segments, the start a prediction is compared with does not depend on earlier hits, so the loop
vectorises: a ground-truth start is hit by the first qualifying prediction that is compared with it.

>>> gt   = ["bg"] * 10 + ["A"] * 8 + ["B"] * 6   # starts: A at 10, B at 18
>>> pred = ["bg"] * 14 + ["A"] * 10              # starts: A at 14, 4 frames from both
>>> point_f1(pred, gt, fps=4, seconds=1, background=("bg",))  # the tie goes to A, the earlier start
66.67
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from actbench.errors import ActbenchError
from actbench.evaluators.segment_f1 import EPS, first_hits, paired_segments, precision_recall_f1
from actbench.evaluators.segments import Segments

POINT_F1_EPS = EPS  # the point F1 has 1e-8 in its denominator (the segment F1 has 1e-16)


def nearest_starts(pred: Segments, gt: Segments) -> tuple[np.ndarray, np.ndarray]:
    """For each predicted segment, the nearest ground-truth start of its video and the distance.

    Returns ``(nearest, distance)`` in frames; ``nearest`` is -1 (distance inf) when the video has no
    ground-truth segment.
    """
    if not np.array_equal(pred.offsets, gt.offsets):
        raise ActbenchError.bad_value("nearest_starts()", "offsets", "predictions and ground truth of the same "
                                      "videos and lengths", "different video lengths")
    ps, gs = pred.global_start, gt.global_start  # both sorted: video-major, then time
    n = gs.size
    if n == 0:
        return np.full(ps.size, -1, dtype=np.int64), np.full(ps.size, np.inf)
    right = np.searchsorted(gs, ps, side="left")  # first ground-truth start at or after p
    left = right - 1
    right_c, left_c = np.minimum(right, n - 1), np.maximum(left, 0)  # clipped for indexing
    # A neighbour in the concatenation may belong to another video; it is then no candidate.
    right_ok = (right < n) & (gt.video[right_c] == pred.video)
    left_ok = (left >= 0) & (gt.video[left_c] == pred.video)
    d_right = np.where(right_ok, gs[right_c] - ps, np.inf)
    d_left = np.where(left_ok, ps - gs[left_c], np.inf)
    use_left = d_left <= d_right  # ties go to the earlier start
    nearest = np.where(use_left, left, right)
    distance = np.where(use_left, d_left, d_right)
    nearest[~(left_ok | right_ok)] = -1
    return nearest, distance


def point_hits(pred: Segments, gt: Segments, *, tolerance: float,
               near: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Which predicted starts are true positives, for a tolerance in frames."""
    nearest, distance = nearest_starts(pred, gt) if near is None else near
    found = nearest >= 0
    same_label = np.zeros(len(pred), dtype=bool)
    same_label[found] = pred.label[found] == gt.label[nearest[found]]
    return first_hits(nearest, found & (distance <= tolerance) & same_label)


def point_scores(pred: object, gt: object, *, fps: float, lengths: Sequence[int] | np.ndarray | None = None,
                 seconds: Iterable[float] = (1.0, 2.0), background: Iterable[object] = (),
                 ignore: Iterable[object] = ()) -> dict[float, tuple[float, float, float]]:
    """``{seconds: (precision, recall, f1)}`` in percent rounded to 2 decimals, micro over videos.

    >>> point_scores([0, 0, 1, 1, 1], [0, 1, 1, 1, 1], fps=1, seconds=(0.5, 1), background=(0,))
    {0.5: (0.0, 0.0, 0.0), 1: (100.0, 100.0, 100.0)}
    """
    if not (isinstance(fps, (int, float, np.number)) and np.isfinite(fps) and fps > 0):
        raise ActbenchError.bad_value("point F1", "fps", "a positive number of frames per second", fps)
    pred_seg, gt_seg = paired_segments(pred, gt, lengths, background, ignore, "point_scores()")
    near = nearest_starts(pred_seg, gt_seg)
    out = {}
    for window in seconds:
        if not window >= 0:
            raise ActbenchError.bad_value("point F1", "seconds", "a non-negative window in seconds", window)
        tp = int(point_hits(pred_seg, gt_seg, tolerance=window * fps, near=near).sum())
        p, r, f1 = precision_recall_f1(tp, len(pred_seg) - tp, len(gt_seg) - tp, f1_eps=POINT_F1_EPS)
        # Each value is rounded on its own; F1 comes from the unrounded P and R.
        out[window] = (round(100 * float(p), 2), round(100 * float(r), 2), round(100 * float(f1), 2))
    return out


def point_f1(pred: object, gt: object, *, fps: float, lengths: Sequence[int] | np.ndarray | None = None,
             seconds: float = 1.0, background: Iterable[object] = (), ignore: Iterable[object] = ()) -> float:
    """Point F1 of action starts within ``seconds`` in percent (see the module docstring)."""
    return point_scores(pred, gt, fps=fps, lengths=lengths, seconds=(seconds,), background=background,
                        ignore=ignore)[seconds][2]


point_scores.higher_is_better = True  # type: ignore[attr-defined]
point_f1.higher_is_better = True  # type: ignore[attr-defined]
