"""Error diversity (DScore, GAD paper Appendix B.3) and memorization rate (Appendix D).

DScore: from the confusion matrix (rows: ground truth, columns: predictions), the diagonal is zeroed
to keep only misclassifications, the background column is removed (background errors are semantically
unrelated and would swamp the rest), each row is normalised to an error distribution and its Shannon
entropy ``H = -sum_j p_j log p_j`` (natural log) measured. The paper writes ``log(p_j + eps)`` to keep
the logarithm defined at zero cells; only non-zero cells are visited here, so no eps is needed, and the
result differs from the paper's by less than ~1e-9 (and is exactly 0, not -1e-10, for a single error
class). The DScore is the mean entropy over
the action classes present in the ground truth (background and ignore rows excluded). Higher means
errors spread over more classes, which is what shared subwords do to a generative classifier, so lower
is better. A class that is never misclassified (or only as background) has entropy 0 and counts.

The confusion matrix is never built densely: EPIC-KITCHENS-100 has ~3,800 classes (a 14 M-cell
matrix), while the distinct (truth, prediction) error pairs are at most the number of frames.

>>> pred = ["A"] * 5 + ["B"] * 2 + ["C"] * 2 + ["bg"] * 3 + ["B"] * 4 + ["A"]
>>> gt   = ["A"] * 12 + ["B"] * 4 + ["C"]
>>> round(dscore(pred, gt, background=("bg",)), 4)  # A: ln 2, B: 0, C: 0
0.231
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from actbench.errors import ActbenchError
from actbench.evaluators.segments import as_labels, label_mask

def dscore(pred: object, gt: object, *, background: Iterable[object] = (), ignore: Iterable[object] = ()) -> float:
    """Mean entropy (nats) of each ground-truth class's misclassifications; NaN with no class to average.

    ``pred`` and ``gt`` are per-frame (OAD) or per-clip (COIN) labels. Frames whose ground truth is in
    ``ignore`` are dropped; predictions in ``background`` are not counted as errors.
    """
    pred, gt = as_labels(pred, "dscore()", "pred"), as_labels(gt, "dscore()", "gt")
    if pred.shape != gt.shape:
        raise ActbenchError.bad_value("dscore()", "pred", f"{gt.size} labels, as gt", pred.size)
    background, ignore = list(background), list(ignore)
    keep = ~label_mask(gt, ignore)
    pred, gt = pred[keep], gt[keep]
    names, codes = np.unique(np.concatenate([gt, pred]), return_inverse=True)
    gt_code, pred_code = codes[: gt.size], codes[gt.size:]
    k = names.size
    not_row = label_mask(names, background + ignore)  # rows that are no action class
    errors = (gt_code != pred_code) & ~label_mask(pred, background) & ~not_row[gt_code]
    cells, counts = np.unique(gt_code[errors].astype(np.int64) * k + pred_code[errors], return_counts=True)
    row = cells // k
    row_total = np.bincount(row, weights=counts, minlength=k)
    p = counts / row_total[row]
    entropy = np.bincount(row, weights=-p * np.log(p), minlength=k)  # p > 0: only non-zero cells
    present = np.zeros(k, dtype=bool)
    present[gt_code] = True  # classes absent from the test set are excluded
    rows = present & ~not_row
    return float(entropy[rows].mean()) if rows.any() else float("nan")


def clean_output(text: str) -> str:
    """The cleaning applied to generated text before it is compared with class names (as Gen's mapping)."""
    return text.strip(".").lower().strip()


def memorization_rate(outputs: Iterable[str], train_categories: Iterable[str], *, normalize: bool = True) -> float:
    """Percent of generated outputs that exactly match a training category (Appendix D).

    With ``normalize`` (default) both sides are cleaned as the generative classifier's label mapping
    does (``.strip('.').lower().strip()``), so "Add sugar." matches "add sugar"; without it the raw
    strings must be identical.

    >>> round(memorization_rate(["Add sugar.", "stir mixture", "whisk eggs"], ["add sugar", "stir mixture"]), 2)
    66.67
    """
    clean = clean_output if normalize else (lambda text: text)
    known = {clean(str(name)) for name in train_categories}
    outputs = [clean(str(text)) for text in outputs]
    if not outputs:
        return float("nan")
    return 100 * sum(text in known for text in outputs) / len(outputs)


dscore.higher_is_better = False  # type: ignore[attr-defined]  # diverse errors are what GAD reduces
memorization_rate.higher_is_better = False  # type: ignore[attr-defined]  # it costs generalisation
