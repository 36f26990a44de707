"""Frozen records passed between the stages: one concept each.

Files people write or edit (benchmark cards, manifests, run specs) are validated by strict pydantic
models next to the code that reads them; inside the program, data travels in these plain frozen
dataclasses, which are cheap to build in bulk.

>>> q = Question(id="P01_11_0", video_id="P01_11", start=0.0, end=1.89, question="What?",
...              options=("take plate", "wash cup"), answer_index=0, answer_letter="A",
...              option_classes=("0:2", "2:3"), source_ranks=(1, None))
>>> q.letters
('A', 'B')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Marks, in Answer.extra, a question an adapter did not send (its budget was spent): the runner stops
# there and leaves it out of the journal, so --resume with a larger budget asks it.
NOT_SENT = "not_sent"

Status = Literal["ok", "parse_fail", "refused", "error"]
STATUSES: tuple[Status, ...] = ("ok", "parse_fail", "refused", "error")


@dataclass(frozen=True, slots=True)
class Clip:
    """One annotated action segment of a video (times in seconds)."""

    narration_id: str
    participant_id: str
    video_id: str
    start: float
    end: float
    verb_class: int
    noun_class: int
    narration: str | None  # None where the annotation files carry no narration (most training clips)

    @property
    def class_key(self) -> str:
        """The action as ``"verb:noun"`` class ids, the key of the action label space."""
        return f"{self.verb_class}:{self.noun_class}"


@dataclass(frozen=True, slots=True)
class Question:
    """One multiple-choice question of a built benchmark (a line of ``questions.jsonl``)."""

    id: str
    video_id: str
    start: float
    end: float
    question: str
    options: tuple[str, ...]
    answer_index: int | None  # None in two-stage benchmarks whose options may not contain the truth
    answer_letter: str | None
    option_classes: tuple[str, ...]
    source_ranks: tuple[int | None, ...]
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(LETTERS[: len(self.options)])


@dataclass(frozen=True, slots=True)
class Answer:
    """A model's answer to one question (a line of ``predictions.jsonl``).

    ``answer`` is a letter only when ``status == "ok"``: a parse failure, refusal or error is never
    scored as some letter.
    """

    id: str
    answer: str | None
    status: Status
    raw: str
    latency_s: float
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if (self.answer is not None) != (self.status == "ok"):
            raise ValueError(f"answer {self.answer!r} does not fit status {self.status!r}")
