"""Multiple-choice training questions with adversarial distractors (LLaVAction §3.2).

For each training clip the specialist's ranking (any distractor source; AVION for the paper's
out-of-distribution setting) gives a *pool*: its ``pool`` highest-ranked classes other than the ground
truth, after the benchmark builder's rule has skipped classes without option text and classes whose
text reads like the answer or like a higher-ranked candidate (:func:`select_distractors`). ``K - 1``
of the pool are drawn at random (seeded, a counter-based draw per clip, so the same clip gets the same
draw whatever else is built) and the answer is placed on a balanced, seeded letter.

- K = 5: 4 distractors from the top 10 other than the ground truth, as in the paper.
- K = 20: the paper gives no pool size; :func:`pool_size` keeps the same ratio of pool to distractors
  (10 / 4 = 2.5), so 19 distractors are drawn from the top 48.
- The random-distractor ablation (LLaVAction Table 1 / 3, "Random") is the same builder with
  ``--source random``: the pool is then ``pool`` uniformly random classes, so the distractors are too.

Option text: narrations (a seeded narration of each distractor class, the clip's own narration for the
answer), as in the paper. A training clip the annotation files carry no narration for (the UDA subset
covers 16,115 of 67,217 clips, whole videos) gets *label* options for every option (``"verb noun"``
of each class), never a mix, so the answer cannot be told apart by its style. The manifest counts both.

>>> pool_size(5), pool_size(20)
(10, 48)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from actbench.mqa_builder.distractors import SKIP_REASONS, select_distractors
from actbench.mqa_builder.letters import arrange
from actbench.mqa_builder.option_text import LabelTexts, NarrationTexts
from actbench.mqa_builder.seeded_hash import uniform01
from actbench.prompts import EGOCENTRIC, format_mqa
from actbench.records import LETTERS

TASK = "mqa"
QUESTION = EGOCENTRIC
POOL_RATIO = 10 / 4  # the paper's 4 distractors out of the top 10
_NARRATION_STREAM = 0x4E415252  # same stream as the benchmark builder's narration choice
_PICK_STREAM = 0x5049434B  # "PICK": which of the pool become the distractors
_CHUNK = 8192  # rows of the score matrix handled at a time (bounds the copies of a 67k x 3806 matrix)


def pool_size(k: int) -> int:
    """Candidates the K - 1 distractors are drawn from: 10 for K = 5, the same ratio otherwise."""
    return max(k - 1, math.ceil(POOL_RATIO * (k - 1)))


@dataclass(frozen=True)
class MqaTable:
    options: list[list[str]]  # (N, K) option texts
    option_classes: np.ndarray  # (N, K) class indices
    answer_index: np.ndarray  # (N,)
    narrated: np.ndarray  # (N,) bool: narration options (else label options)
    skipped: dict[str, int]  # pool candidates passed over, by reason


def _group(scores, truth, rows, texts, *, k, pool, seed, origin, names):
    """Distractor classes (len(rows), K-1) and their texts for one option-text mode."""
    classes = np.empty((len(rows), k - 1), dtype=np.int64)
    texts_out: list[str] = []
    skipped = np.zeros(len(SKIP_REASONS), dtype=np.int64)
    for a in range(0, len(rows), _CHUNK):
        part = rows[a:a + _CHUNK]
        local = np.arange(a, a + len(part))
        selection = select_distractors(
            scores[part], truth[part], n_distractors=pool,
            text_ids=lambda r, c, a=a: texts.text_ids(r + a, c),
            answer_text_ids=texts.answer_text_ids[a:a + len(part)],
            row_names=[names[i] for i in part], origin=origin)
        skipped += np.bincount(selection.skipped_reasons, minlength=len(SKIP_REASONS))
        u = uniform01(seed ^ _PICK_STREAM, part[:, None], np.arange(pool)[None, :])
        pick = np.sort(np.argsort(u, axis=1, kind="stable")[:, : k - 1], axis=1)  # keep rank order
        chosen = np.take_along_axis(selection.classes, pick, axis=1)
        classes[a:a + len(part)] = chosen
        texts_out += texts.texts(np.repeat(local, k - 1), chosen.ravel())
    return classes, texts_out, skipped


def build_mqa_table(scores: np.ndarray, truth: np.ndarray, clips, *, narrations_by_action, labels, k: int,
                    pool: int, seed: int, salt: str, origin: str) -> MqaTable:
    """Options, classes and answer positions for every clip (rows of ``scores`` align with ``clips``)."""
    n = len(clips)
    narrated = np.array([bool(c.narration) for c in clips], dtype=bool)
    names = [c.narration_id for c in clips]
    options = np.empty((n, k), dtype=object)
    option_classes = np.empty((n, k), dtype=np.int64)
    answer_pos, slots = arrange(n, k, seed=seed, salt=salt)
    skipped = np.zeros(len(SKIP_REASONS), dtype=np.int64)
    for with_narration in (True, False):
        rows = np.flatnonzero(narrated == with_narration)
        if not len(rows):
            continue
        if with_narration:
            texts = NarrationTexts(narrations_by_action, tuple(clips[i] for i in rows),
                                   seed ^ _NARRATION_STREAM, origin=origin)
        else:
            texts = LabelTexts(labels, truth[rows])
        classes, distractor_texts, skip = _group(scores, truth, rows, texts, k=k, pool=pool, seed=seed,
                                                 origin=origin, names=names)
        skipped += skip
        options[rows, answer_pos[rows]] = texts.answer_texts()
        option_classes[rows, answer_pos[rows]] = truth[rows]
        options[rows[:, None], slots[rows]] = np.array(distractor_texts, dtype=object).reshape(len(rows), k - 1)
        option_classes[rows[:, None], slots[rows]] = classes
    return MqaTable(options.tolist(), option_classes, answer_pos, narrated,
                    {r: int(c) for r, c in zip(SKIP_REASONS, skipped) if c})


def mqa_conversation(question: str, options: list[str], answer_index: int) -> list[dict]:
    """The human turn asks :func:`format_mqa`'s question; the target is the answer's letter, as asked."""
    return [{"from": "human", "value": f"<video>\n{format_mqa(question, options)}"},
            {"from": "gpt", "value": LETTERS[answer_index]}]
