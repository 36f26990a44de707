"""CircularEval and position bias: each question is also asked with its options rotated.

A model that knows the answer picks it wherever it stands; one that leans on a position does not.
``rotate`` makes the rotated copies (ids ``ID#r1``, ``ID#r2``, ...), ``circular_metrics`` scores them:
a question counts as correct under CircularEval only if every asking of it is answered correctly, and
the position bias is how often each position is chosen over all askings (uniform = 1/K each).

>>> from actbench.records import Question
>>> q = Question("x", "v", 0.0, 1.0, "?", ("a", "b", "c"), 0, "A", ("0:0", "0:1", "0:2"), (1, 2, 3))
>>> r = rotate(q, 1)
>>> r.id, r.options, r.answer_letter
('x#r1', ('c', 'a', 'b'), 'B')
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Sequence

import numpy as np

from actbench.records import LETTERS, Answer, Question

SEPARATOR = "#r"


def rotate(question: Question, shift: int) -> Question:
    """The question with option i moved to position (i + shift) mod K."""
    n = len(question.options)

    def moved(values):
        return tuple(values[(j - shift) % n] for j in range(n))

    index = None if question.answer_index is None else (question.answer_index + shift) % n
    return replace(question, id=f"{question.id}{SEPARATOR}{shift}", options=moved(question.options),
                   option_classes=moved(question.option_classes), source_ranks=moved(question.source_ranks),
                   answer_index=index, answer_letter=None if index is None else LETTERS[index])


def original_id(asked_id: str) -> str:
    return asked_id.split(SEPARATOR, 1)[0]


def circular_metrics(asked: Sequence[Question], answers: dict[str, Answer]) -> dict:
    """CircularEval accuracy (%), accuracy per rotation, and the share of choices per position."""
    per_original: dict[str, list[bool]] = defaultdict(list)
    per_rotation: dict[int, list[bool]] = defaultdict(list)
    n_options = max(len(q.options) for q in asked)
    chosen = np.zeros(n_options)
    for q in asked:
        a = answers.get(q.id)
        ok = a is not None and a.status == "ok" and a.answer == q.answer_letter
        per_original[original_id(q.id)].append(ok)
        shift = int(q.id.split(SEPARATOR, 1)[1]) if SEPARATOR in q.id else 0
        per_rotation[shift].append(ok)
        if a is not None and a.status == "ok":
            chosen[LETTERS.index(a.answer)] += 1
    circular = np.array([all(v) for v in per_original.values()])
    share = chosen / chosen.sum() if chosen.sum() else chosen
    return {
        "rotations": len(per_rotation) - 1,
        "circular_accuracy": round(100.0 * float(circular.mean()), 6),
        "accuracy_by_rotation": {str(s): round(100.0 * float(np.mean(v)), 6) for s, v in sorted(per_rotation.items())},
        "position_choice_share": {LETTERS[i]: round(float(share[i]), 6) for i in range(n_options)},
        "position_bias_max_deviation": round(float(np.abs(share - 1.0 / n_options).max()), 6) if chosen.sum() else 0.0,
    }


circular_metrics.higher_is_better = True
