"""``prior``: answer with the option whose class the video-free sequence model finds most likely.

The same model as the ``prior`` distractor source (see mqa_builder/sources/prior.py), scoring only the
options of each question. It is a language-and-annotation baseline: it sees the ground truth of the
earlier clips of the video and the option classes, never the frames, so any score above chance that
it reaches is what a model can get without looking.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from actbench.datasets.registry import open_dataset
from actbench.errors import ActbenchError
from actbench.evaluators.circular import original_id
from actbench.model_adapters.base import AdapterContext
from actbench.mqa_builder.sources.prior import SequencePrior
from actbench.records import Answer, Question


class PriorAdapter:
    name = "prior"
    batch_size = 512

    def __init__(self, dataset, split: str = "validation"):
        """``dataset``: any dataset of actbench.datasets.registry (the benchmark's, in a run)."""
        self.dataset = dataset
        self.split = split
        self._model: SequencePrior | None = None
        self._everyone = dataset.split(split)
        self._actions = dataset.action_ids(self._everyone)

    def _scores(self, questions: Sequence[Question]) -> np.ndarray:
        if self._model is None:
            self._model = SequencePrior.from_dataset(self.dataset, self.split)
        try:
            # Rotated askings (CircularEval) carry the clip id with a suffix; the clip is the same.
            return self._model.score_clips(self._everyone, self._actions, [original_id(q.id) for q in questions])
        except KeyError as error:
            raise ActbenchError(f"model 'prior' knows only clips of the {self.split} annotations: {error}") from None

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        t0 = time.perf_counter()
        scores = self._scores(questions)
        index = self.dataset.action_space.index
        answers = []
        for row, q in enumerate(questions):
            cols = [index.get(c, -1) for c in q.option_classes]
            values = np.array([scores[row, c] if c >= 0 else -np.inf for c in cols])
            # Equal probabilities go to the smaller class key, not the earlier letter, so the choice
            # does not depend on where the options stand (CircularEval stays position-free).
            best = min(range(len(values)), key=lambda i: (-values[i], q.option_classes[i]))
            raw = " ".join(f"{letter}={v:.3f}" for letter, v in zip(q.letters, values))
            answers.append(Answer(q.id, q.letters[best], "ok", raw, 0.0))
        per_question = (time.perf_counter() - t0) / max(len(questions), 1)
        return [Answer(a.id, a.answer, a.status, a.raw, per_question) for a in answers]

    def describe(self) -> dict:
        return {"name": self.name, "args": {"split": self.split}}


def prior_adapter(ctx: AdapterContext) -> PriorAdapter:
    unknown = set(ctx.args) - {"split"}
    if unknown:
        raise ActbenchError.bad_value("--model-arg", sorted(unknown)[0], "only 'split' for model 'prior'", ctx.args)
    dataset = open_dataset(ctx.dataset, ctx.data_dir)
    return PriorAdapter(dataset, ctx.args.get("split", ctx.split or dataset.default_split))
