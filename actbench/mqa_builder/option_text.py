"""Option texts of the two modes, and which texts "read the same".

- ``narration`` (LLaVAction's headline setting): the answer is the clip's own narration; a distractor of
  class c is a seeded random narration of class c from the train + validation narrations.
- ``label``: every option is its class's label text (``"verb noun"``).

Two texts read the same when they are equal after :func:`actbench.text.normalise`
(``"Put-down plate."`` = ``"put down plate"``). Each mode hands the distractor rule integer text ids
for that comparison.
"""

from __future__ import annotations

import numpy as np

from actbench.errors import ActbenchError
from actbench.mqa_builder.distractors import NO_TEXT
from actbench.mqa_builder.seeded_hash import uniform01
from actbench.records import Clip
from actbench.text import normalise

MODES = ("narration", "label")


class _TextIds:
    """Interns normalised texts as small integers."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        return self._ids.setdefault(normalise(text), len(self._ids))


class LabelTexts:
    mode = "label"

    def __init__(self, labels: tuple[str, ...], truth: np.ndarray):
        intern = _TextIds()
        self._labels = labels
        self._ids = np.array([intern(t) for t in labels], dtype=np.int64)
        self.answer_text_ids = self._ids[truth]
        self._truth = truth

    def text_ids(self, rows: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return self._ids[classes]

    def answer_texts(self) -> list[str]:
        return [self._labels[c] for c in self._truth]

    def texts(self, rows: np.ndarray, classes: np.ndarray) -> list[str]:
        return [self._labels[c] for c in classes.ravel()]


class NarrationTexts:
    mode = "narration"

    def __init__(self, narrations_by_class: tuple[tuple[str, ...], ...], clips: tuple[Clip, ...],
                 seed: int, origin: str):
        intern = _TextIds()
        flat = [text for texts in narrations_by_class for text in texts]
        self._flat = flat
        self._flat_ids = np.array([intern(t) for t in flat] or [0], dtype=np.int64)
        self._counts = np.array([len(t) for t in narrations_by_class], dtype=np.int64)
        self._offsets = np.concatenate(([0], np.cumsum(self._counts)[:-1]))
        self._seed = seed
        missing = next((c for c in clips if not c.narration), None)
        if missing is not None:
            raise ActbenchError.bad_value(origin, "narration", "a narration for every clip in narration mode "
                                          "(or use --options label)", f"none for {missing.narration_id}")
        self._answers = [c.narration.strip() for c in clips]
        self.answer_text_ids = np.array([intern(t) for t in self._answers], dtype=np.int64)

    def _pick(self, rows: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Index into the flat narration list of the random narration of each (row, class)."""
        counts = self._counts[classes]
        u = uniform01(self._seed, rows, classes)
        return self._offsets[classes] + np.minimum((u * counts).astype(np.int64), np.maximum(counts - 1, 0))

    def text_ids(self, rows: np.ndarray, classes: np.ndarray) -> np.ndarray:
        ids = self._flat_ids[self._pick(rows, classes)] if len(self._flat) else np.zeros(len(rows), np.int64)
        return np.where(self._counts[classes] > 0, ids, NO_TEXT)

    def answer_texts(self) -> list[str]:
        return list(self._answers)

    def texts(self, rows: np.ndarray, classes: np.ndarray) -> list[str]:
        picks = self._pick(rows.ravel(), classes.ravel())
        return [self._flat[i] for i in picks]
