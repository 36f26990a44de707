"""The one protocol every model adapter implements, and what a factory receives.

An adapter answers a batch of questions; for each it returns an :class:`~actbench.records.Answer`
(the letter or None, a status, the raw output, and the time it took). The runner decides batching and
journaling; the adapter only answers.

>>> from actbench.model_adapters import MODELS
>>> adapter = MODELS.get("always-a")(AdapterContext(seed=0))
>>> adapter.describe()
{'name': 'always-a', 'args': {}}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

from actbench.records import Answer, Question


@dataclass(frozen=True)
class AdapterContext:
    """What a factory may use: the run's seed, the data directory, the model's own arguments, and the
    dataset and split the benchmark was built from (its manifest's), for models that read annotations."""

    seed: int = 0
    data_dir: Path | None = None
    args: dict[str, Any] = field(default_factory=dict)
    dataset: str = "epic-kitchens-100"
    split: str | None = None


@runtime_checkable
class ModelAdapter(Protocol):
    """Answers multiple-choice questions.

    An adapter that looks at the video sets ``uses_frames = True``; the runner then samples the same
    frames for every model (see video.py) and calls ``answer(questions, frames=[...])`` with one uint8
    array (N, H, W, 3) per question. Questions whose video cannot be read never reach the adapter.
    """

    name: str
    batch_size: int

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        """One answer per question, in the same order."""

    def describe(self) -> dict[str, Any]:
        """Name and arguments, recorded in run.json so the run can be reproduced."""


class LetterChooser:
    """Base for adapters that compute a letter per question cheaply, in-process.

    Subclasses implement ``choose(question) -> (letter, raw)``; latency is measured per question.
    """

    name = "?"
    batch_size = 256

    def __init__(self, args: dict[str, Any] | None = None):
        self.args = dict(args or {})

    def choose(self, question: Question) -> tuple[str, str]:
        raise NotImplementedError

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        out = []
        for q in questions:
            t0 = time.perf_counter()
            letter, raw = self.choose(q)
            out.append(Answer(q.id, letter, "ok", raw, time.perf_counter() - t0))
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "args": self.args}
