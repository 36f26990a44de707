"""The distractor rule of LLaVAction (§3.1, Eq. 3), vectorised over all clips at once.

For each clip the options are the ground truth plus the K-1 highest-ranked classes other than the
ground truth. Classes are ranked by score, ties broken by the lower class index, so the result does not
depend on how numpy partitions. A candidate is skipped, and the next-ranked class taken, when

- ``no_text``: it has no option text (narration mode and no narration of that class exists),
- ``same_as_answer``: its text reads the same as the answer's,
- ``same_as_option``: its text reads the same as a higher-ranked candidate's.

Only classes the source ranks (finite score) are candidates. The work is done on a window of the top M
candidates per row (a partition, not a sort, of each row); the few rows that run out of candidates in
the window are redone with a wider one.

>>> import numpy as np
>>> scores = np.array([[0.1, 0.5, 0.3, 0.2]], dtype=np.float32)
>>> sel = select_distractors(scores, np.array([1]), n_distractors=2,
...                          text_ids=lambda r, c: c, answer_text_ids=np.array([1]))
>>> sel.classes.tolist(), sel.ranks.tolist()
([[2, 3]], [[2, 3]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from actbench.errors import ActbenchError

NO_TEXT = -1
SKIP_REASONS = ("no_text", "same_as_answer", "same_as_option")
_EXTRA_WINDOW = 8
_BLOCK = 256  # rows per block of the window search

TextIds = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Selection:
    classes: np.ndarray  # (N, K-1) class indices, in rank order
    ranks: np.ndarray  # (N, K-1) 1-based rank of each chosen class in its row
    skipped_rows: np.ndarray  # (S,) row of each skipped candidate (ranked above the last chosen one)
    skipped_classes: np.ndarray  # (S,)
    skipped_ranks: np.ndarray  # (S,)
    skipped_reasons: np.ndarray  # (S,) index into SKIP_REASONS


def ranks_of(scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """1-based rank of ``classes[i]`` in row i (ties: lower class index first); 0 where not ranked."""
    rows = np.arange(scores.shape[0])
    value = scores[rows, classes]
    ahead = np.count_nonzero(scores > value[:, None], axis=1)
    tied = scores == value[:, None]
    tied_ahead = np.count_nonzero(tied & (np.arange(scores.shape[1]) < classes[:, None]), axis=1)
    ranks = 1 + ahead + tied_ahead
    return np.where(np.isfinite(value), ranks, 0)


def _window(scores: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top-m ranked candidates of every row as (row, class, rank) in row then rank order.

    Everything scoring at least the m-th largest value of its row is included, so ties at the edge
    are kept whole and positions in the sorted window are the true ranks. ``np.partition`` (values)
    finds that value about twice as fast as ``np.argpartition`` would find the indices.
    """
    n, a = scores.shape
    lowest_ranked = np.nextafter(np.float32(-np.inf), np.float32(0))  # -inf means "not ranked"
    found_rows, found_cols = [], []
    for first in range(0, n, _BLOCK):  # blocks of rows stay in cache between the three passes
        block = scores[first:first + _BLOCK]
        if m >= a:
            kth = np.full(len(block), lowest_ranked, dtype=np.float32)
        else:
            kth = np.maximum(np.partition(block, a - m, axis=1)[:, a - m], lowest_ranked)
        r, c = np.nonzero(block >= kth[:, None])
        found_rows.append(r + first)
        found_cols.append(c)
    rows, cols = np.concatenate(found_rows), np.concatenate(found_cols)
    order = np.lexsort((cols, -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(n))
    ranks = np.arange(len(rows)) - starts[rows] + 1
    return rows, cols, ranks


def _first_in_group(rows: np.ndarray, texts: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """True for each candidate whose text is the first occurrence of that text in its row."""
    order = np.lexsort((ranks, texts, rows))
    r, t = rows[order], texts[order]
    first_sorted = np.ones(len(order), dtype=bool)
    first_sorted[1:] = (r[1:] != r[:-1]) | (t[1:] != t[:-1])
    first = np.empty(len(order), dtype=bool)
    first[order] = first_sorted
    return first


def _select_rows(scores, truth, answer_text_ids, text_ids, n_distractors, m, row_ids):
    rows, cols, ranks = _window(scores, m)
    keep = cols != truth[rows]
    rows, cols, ranks = rows[keep], cols[keep], ranks[keep]
    texts = text_ids(row_ids[rows], cols)
    reason = np.full(len(rows), -1, dtype=np.int8)
    reason[texts == NO_TEXT] = 0
    reason[(reason < 0) & (texts == answer_text_ids[rows])] = 1
    has_text = reason < 0
    first = np.zeros(len(rows), dtype=bool)
    first[has_text] = _first_in_group(rows[has_text], texts[has_text], ranks[has_text])
    reason[has_text & ~first] = 2
    valid = reason < 0
    # Running count of valid candidates within each row (rows are contiguous and rank-ordered).
    csum = np.cumsum(valid)
    starts = np.searchsorted(rows, np.arange(scores.shape[0]))
    before = np.concatenate(([0], csum))[starts]
    position = csum - before[rows]  # 1-based index among the row's valid candidates so far
    chosen = valid & (position <= n_distractors)
    counts = np.bincount(rows[chosen], minlength=scores.shape[0])
    complete = counts == n_distractors
    # A skip counts if it lies before the row's last chosen candidate (it was passed over).
    last_rank = np.zeros(scores.shape[0], dtype=np.int64)
    np.maximum.at(last_rank, rows[chosen], ranks[chosen])
    skipped = (~valid) & (ranks < last_rank[rows])
    return rows, cols, ranks, reason, chosen, skipped, complete


def select_distractors(scores: np.ndarray, truth: np.ndarray, *, n_distractors: int, text_ids: TextIds,
                       answer_text_ids: np.ndarray, row_names=None, origin: str = "source") -> Selection:
    """Choose ``n_distractors`` classes per row (see the module docstring).

    ``text_ids(rows, classes)`` gives an integer id per candidate text (equal ids = texts that read the
    same; ``NO_TEXT`` = no text); ``answer_text_ids[row]`` is the id of the answer's text.
    """
    n, a = scores.shape
    out_classes = np.empty((n, n_distractors), dtype=np.int64)
    out_ranks = np.empty((n, n_distractors), dtype=np.int64)
    skipped = []
    todo = np.arange(n)
    m = n_distractors + 1 + _EXTRA_WINDOW
    while len(todo):
        sub = scores if len(todo) == n else scores[todo]
        rows, cols, ranks, reason, chosen, skip, complete = _select_rows(
            sub, truth[todo], answer_text_ids[todo], text_ids, n_distractors, m, todo)
        done = complete if m < a else np.ones(len(todo), dtype=bool)
        take = chosen & done[rows]
        if m >= a and not complete.all():
            bad = int(todo[np.flatnonzero(~complete)[0]])
            name = row_names[bad] if row_names is not None else bad
            raise ActbenchError.bad_value(origin, "scores", f"at least {n_distractors} ranked classes with "
                                          "distinct option texts besides the answer",
                                          f"fewer for clip {name}")
        # Candidates are in row order with exactly n_distractors chosen per finished row.
        out_classes[todo[done]] = cols[take].reshape(-1, n_distractors)
        out_ranks[todo[done]] = ranks[take].reshape(-1, n_distractors)
        s = skip & done[rows]
        skipped.append((todo[rows[s]], cols[s], ranks[s], reason[s]))
        todo = todo[~done]
        m = min(a, m * 4)
    cat = [np.concatenate(part) if part else np.empty(0, dtype=np.int64) for part in zip(*skipped)]
    order = np.lexsort((cat[2], cat[0]))
    return Selection(out_classes, out_ranks, *(c[order] for c in cat))
