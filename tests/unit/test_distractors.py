"""The distractor rule against hand-worked cases and a naive per-row reference."""

from __future__ import annotations

import numpy as np
import pytest

from actbench.errors import ActbenchError
from actbench.mqa_builder.distractors import NO_TEXT, SKIP_REASONS, ranks_of, select_distractors


def naive(scores, truth, text, answer_text, n):
    """Rank every class by (-score, index), walk down, skip by the three rules. One row at a time."""
    out = []
    for r in range(scores.shape[0]):
        order = sorted(range(scores.shape[1]), key=lambda c: (-scores[r, c], c))
        order = [c for c in order if np.isfinite(scores[r, c])]
        chosen, seen, skipped = [], {answer_text[r]}, []
        for rank, c in enumerate(order, start=1):
            if len(chosen) == n:
                break
            if c == truth[r]:
                continue
            t = text(r, c)
            if t == NO_TEXT:
                skipped.append((c, rank, "no_text"))
            elif t == answer_text[r]:
                skipped.append((c, rank, "same_as_answer"))
            elif t in seen:
                skipped.append((c, rank, "same_as_option"))
            else:
                seen.add(t)
                chosen.append((c, rank))
        out.append((chosen, skipped))
    return out


def run(scores, truth, text, answer_text, n):
    vec_text = lambda rows, cols: np.array([text(r, c) for r, c in zip(rows, cols)], dtype=np.int64)
    return select_distractors(np.asarray(scores, dtype=np.float32), np.asarray(truth), n_distractors=n,
                              text_ids=vec_text, answer_text_ids=np.asarray(answer_text))


def as_rows(sel):
    rows = []
    for r in range(sel.classes.shape[0]):
        chosen = list(zip(sel.classes[r].tolist(), sel.ranks[r].tolist()))
        mask = sel.skipped_rows == r
        skipped = [(c, k, SKIP_REASONS[w]) for c, k, w in zip(sel.skipped_classes[mask].tolist(),
                                                              sel.skipped_ranks[mask].tolist(),
                                                              sel.skipped_reasons[mask].tolist())]
        rows.append((chosen, skipped))
    return rows


def test_hand_worked_ties_go_to_the_lower_class_index():
    # classes 1, 2 and 3 tie; the answer (0) ranks last.
    scores = [[0.1, 0.5, 0.5, 0.5, 0.2]]
    sel = run(scores, [0], lambda r, c: c, [0], 3)
    assert sel.classes.tolist() == [[1, 2, 3]]
    assert sel.ranks.tolist() == [[1, 2, 3]]
    assert ranks_of(np.array(scores, dtype=np.float32), np.array([0])).tolist() == [5]


def test_hand_worked_duplicate_text_is_skipped_and_recorded():
    # class 2 reads like class 1; class 3 reads like the answer; class 4 has no text.
    texts = {0: 10, 1: 11, 2: 11, 3: 10, 4: NO_TEXT, 5: 15, 6: 16}
    scores = [[0.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]]
    sel = run(scores, [0], lambda r, c: texts[c], [10], 3)
    assert sel.classes.tolist() == [[1, 5, 6]]
    assert sel.ranks.tolist() == [[1, 5, 6]]
    assert as_rows(sel)[0][1] == [(2, 2, "same_as_option"), (3, 3, "same_as_answer"), (4, 4, "no_text")]


@pytest.mark.parametrize("answer_rank", [1, 3, 7])
def test_answer_ranked_anywhere_is_never_a_distractor(answer_rank):
    n_classes = 7
    scores = np.linspace(1.0, 0.0, n_classes, dtype=np.float32)[None, :]
    truth = answer_rank - 1
    sel = run(scores, [truth], lambda r, c: c, [truth], 4)
    assert truth not in sel.classes[0].tolist()
    assert sel.classes[0].tolist() == [c for c in range(n_classes) if c != truth][:4]
    assert ranks_of(scores, np.array([truth])).tolist() == [answer_rank]


def test_answer_absent_from_the_scores_has_no_rank():
    scores = np.array([[-np.inf, 0.3, 0.2, 0.1]], dtype=np.float32)
    sel = run(scores, [0], lambda r, c: c, [0], 3)
    assert sel.classes.tolist() == [[1, 2, 3]]
    assert ranks_of(scores, np.array([0])).tolist() == [0]


def test_unranked_classes_are_never_used_and_too_few_is_an_error():
    scores = np.array([[0.9, 0.5, -np.inf, -np.inf]], dtype=np.float32)
    with pytest.raises(ActbenchError, match="at least 2 ranked classes"):
        run(scores, [0], lambda r, c: c, [0], 2)


def test_many_skips_widen_the_window():
    # Every class reads like one of two texts except the last few: needs the full row.
    n_classes = 60
    texts = {c: (100 + c % 2 if c < 50 else c) for c in range(n_classes)}
    scores = np.linspace(1.0, 0.0, n_classes, dtype=np.float32)[None, :]
    sel = run(scores, [0], lambda r, c: texts[c], [100], 4)
    assert sel.classes.tolist() == [[1, 50, 51, 52]]
    assert [c for c, _, _ in as_rows(sel)[0][1]] == list(range(2, 50))  # all passed over, recorded


def test_matches_the_naive_rule_on_random_cases():
    rng = np.random.default_rng(0)
    for trial in range(30):
        n, a = rng.integers(1, 12), rng.integers(12, 40)
        # few distinct values so ties are common; a few unranked classes
        scores = rng.integers(0, 6, size=(n, a)).astype(np.float32)
        scores[rng.random((n, a)) < 0.1] = -np.inf
        scores[:, :8] = np.maximum(scores[:, :8], 0)  # at least 8 ranked per row
        truth = rng.integers(0, a, size=n)
        table = rng.integers(-1, 6, size=(n, a))  # small text vocabulary: many duplicates
        table[table < 0] = NO_TEXT
        table[:, :8] = 100 + np.arange(8)  # enough distinct texts
        answer_text = rng.integers(0, 6, size=n)
        text = lambda r, c: int(table[r, c])
        got = as_rows(run(scores, truth, text, answer_text, 4))
        assert got == naive(scores, truth, text, answer_text, 4), f"trial {trial}"
