"""Sequential action prediction (SAP): the model's own previous answers in the prompt (LLaVAction Table 3).

LLaVAction trains part of its multiple-choice questions with the two previous actions of the video in
the prompt (Appendix C.5) and, at inference ("w/ SAP"), gives the model its *own predictions* of those
actions. ``actbench run --sap`` does that, with these rules:

- Which previous actions: the training builder's rule (:mod:`actbench.training_data.prior_actions`,
  same code), applied to the questions of the run (after ``--limit``; only they have predictions). A
  video's questions are ordered by start, then end, then narration number; a question gets context
  when it has two previous questions and both gaps between consecutive actions
  (``next.start - previous.end``) are at most 3 s (overlaps qualify). Any other question (a video's
  first two, or after a pause) is asked exactly as in a plain run.
- What is fed back: the text of the option the model chose for each previous question. A previous
  answer that is not ``ok`` (parse failure, refusal, error) feeds back nothing for its slot: the
  sentence then names only the other action, and with both slots empty the question is asked as in a
  plain run. Either way the journal records it.
- The prompt: Appendix C.5, the training builder's sentence (offsets ``start - previous.start``, two
  decimals), in place of the perspective question; the options and the answer instruction follow as
  in every prompt. The runner puts the sentence in the question's text and in ``extra["sap"]``;
  adapters build their stem with :func:`prompt_stem`, and the runner refuses ``--sap`` for an adapter
  that does not declare ``sees_prior_actions = True`` (its answers could not change).
- Order and batching: a question is asked once the questions it feeds back from are answered; of the
  questions ready, the earliest in video order go first, so one batch spans many videos while each
  video's chain stays sequential. Answers depend only on the questions and the earlier answers, not on
  the batch size. On resume the context is rebuilt from the journaled answers (a question is journaled
  after the ones it depends on), so a resumed run asks exactly what an uninterrupted one would.
- Rotations (``--permutations R``): each asking is its own chain; asking r of a question gets the
  answers to asking r of its previous questions. The original askings are thus the run without
  rotations, and CircularEval compares R + 1 complete SAP runs.
- Journal: each line of a SAP run carries ``"sap": {"previous": [...], "prompt": ...}``: per slot
  (older first) the fed-back question's id, the offset in seconds, its status, letter, option text and
  class (text and class null when nothing was fed back), and the sentence used (null when none).

>>> slots = [{"offset_s": 5.14, "text": "open cupboard"}, {"offset_s": 3.2, "text": "take plate"}]
>>> prior_sentence(slots)
'5.14 seconds ago, you started an action open cupboard. 3.20 seconds ago, you started an action take plate. What action are you currently performing?'
>>> prior_sentence([{"offset_s": 5.14, "text": None}, {"offset_s": 3.2, "text": "take plate"}])
'3.20 seconds ago, you started an action take plate. What action are you currently performing?'
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from actbench.errors import ActbenchError
from actbench.evaluators.circular import original_id
from actbench.records import Answer, Question
from actbench.training_data.prior_actions import previous_actions, prior_question

KEY = "sap"  # in Question.extra (what the adapter is given) and on the journal line (what was fed back)
MAX_GAP = 3.0  # seconds between consecutive actions, the training builder's default
ONE_PROMPT = "{offset:.2f} seconds ago, you started an action {text}. What action are you currently performing?"


class _Timed(NamedTuple):  # what previous_actions reads of a clip
    narration_id: str
    video_id: str
    start: float
    end: float


@dataclass(frozen=True)
class SapPlan:
    questions: Mapping[str, Question]  # every asking, by id
    order: tuple[str, ...]  # video order (rotations of a question next to it): who goes first when ready
    previous: Mapping[str, tuple[str, str]]  # asking id -> (a_{t-2}, a_{t-1}) askings, only with context


def _timed(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(narration_id: str) -> int:
    tail = narration_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def plan(asked: Sequence[Question], *, where: object, max_gap: float = MAX_GAP) -> SapPlan:
    """Previous actions and video order of a run's askings (originals and rotations ``ID#rN``)."""
    for q in asked:
        for name in ("start", "end"):
            if not _timed(getattr(q, name)):
                raise ActbenchError.bad_value(f"{where} ({q.id})", name, "clip times in seconds (--sap orders "
                                              "each video's questions by start time)", getattr(q, name))
    originals = [q for q in asked if original_id(q.id) == q.id]
    prior = previous_actions([_Timed(q.id, q.video_id, float(q.start), float(q.end)) for q in originals],
                             max_gap=max_gap)
    before = {q.id: (originals[int(prior.prev2[i])].id, originals[int(prior.prev1[i])].id)
              for i, q in enumerate(originals) if prior.eligible[i]}
    rank = {q.id: r for r, q in enumerate(sorted(originals, key=lambda q: (q.video_id, q.start, q.end,
                                                                           _number(q.id))))}
    previous = {}
    for q in asked:
        base = original_id(q.id)
        if base in before:
            suffix = q.id[len(base):]  # the same rotation of the previous questions
            previous[q.id] = tuple(p + suffix for p in before[base])
    order = tuple(q.id for q in sorted(asked, key=lambda q: (rank[original_id(q.id)], q.id)))
    return SapPlan({q.id: q for q in asked}, order, previous)


def prior_sentence(slots: Sequence[Mapping]) -> str | None:
    """Appendix C.5 from the fed-back slots (older first); None when nothing was fed back."""
    fed = [s for s in slots if s["text"] is not None]
    if len(fed) == 2:
        return prior_question(fed[1]["text"], fed[1]["offset_s"], fed[0]["text"], fed[0]["offset_s"])
    if len(fed) == 1:
        return ONE_PROMPT.format(offset=fed[0]["offset_s"], text=fed[0]["text"])
    return None


def context(q: Question, sap_plan: SapPlan, answers: Mapping[str, Answer]) -> dict:
    """What is fed back to ``q``: the record of each slot and the sentence (the journal's ``"sap"``)."""
    slots = []
    for pid in sap_plan.previous.get(q.id, ()):
        p, a = sap_plan.questions[pid], answers[pid]
        chosen = p.letters.index(a.answer) if a.status == "ok" else None
        slots.append({"id": pid, "offset_s": q.start - p.start, "status": a.status, "answer": a.answer,
                      "text": None if chosen is None else p.options[chosen],
                      "class": None if chosen is None else p.option_classes[chosen]})
    sentence = prior_sentence(slots)  # from the exact offsets, as the training builder formats them
    return {"previous": [{**s, "offset_s": round(s["offset_s"], 6)} for s in slots], "prompt": sentence}


def with_context(q: Question, fed: dict) -> Question:
    """The question as asked: the C.5 sentence as its text (when there is one) and the record in extra."""
    return replace(q, question=fed["prompt"] or q.question, extra={**q.extra, KEY: fed})


def prompt_stem(q: Question, perspective: str | None) -> str:
    """The stem an adapter puts before the options: the prior-action sentence, else its perspective, else
    (perspective None, the "benchmark" choice) the question's own stem."""
    fed = q.extra.get(KEY)
    if fed and fed.get("prompt"):
        return fed["prompt"]
    return perspective if perspective is not None else q.question


class Schedule:
    """Which askings can go now: those whose previous askings are all answered, earliest in video order first."""

    def __init__(self, sap_plan: SapPlan, answered: Iterable[str]):
        done = set(answered)
        self._order = sap_plan.order
        self._waiting: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = defaultdict(list)
        self._ready: list[int] = []
        for position, qid in enumerate(self._order):
            if qid in done:
                continue
            missing = [p for p in sap_plan.previous.get(qid, ()) if p not in done]
            for p in missing:
                self._dependents[p].append(qid)
            if missing:
                self._waiting[qid] = len(missing)
            else:
                self._ready.append(position)
        heapq.heapify(self._ready)
        self._position = {qid: i for i, qid in enumerate(self._order)}

    def take(self, n: int) -> list[str]:
        batch = [self._order[heapq.heappop(self._ready)] for _ in range(min(n, len(self._ready)))]
        if not batch and self._waiting:
            raise RuntimeError(f"SAP schedule stalled with {len(self._waiting)} askings waiting")
        return batch

    def answered(self, ids: Iterable[str]) -> None:
        for qid in ids:
            for dependent in self._dependents.pop(qid, ()):
                self._waiting[dependent] -= 1
                if not self._waiting[dependent]:
                    del self._waiting[dependent]
                    heapq.heappush(self._ready, self._position[dependent])


def batches(sap_plan: SapPlan, answers: Mapping[str, Answer], size: int) -> Iterator[list[Question]]:
    """Batches of the askings not in ``answers``, with their context.

    The caller puts each batch's answers in ``answers`` before taking the next batch; it stops taking
    batches once one is not fully answered (a spent budget), as the questions left out are not re-offered.
    """
    schedule = Schedule(sap_plan, answers)
    while ids := schedule.take(size):
        yield [with_context(sap_plan.questions[i], context(sap_plan.questions[i], sap_plan, answers)) for i in ids]
        schedule.answered(i for i in ids if i in answers)


def summary(sap_plan: SapPlan, answers: Mapping[str, Answer]) -> dict[str, int]:
    """Counts for metrics.json: askings with two previous actions, and how many slots each got filled."""
    fed = [sum(s["text"] is not None for s in context(sap_plan.questions[qid], sap_plan, answers)["previous"])
           for qid in sap_plan.previous]
    return {"askings": len(sap_plan.questions), "with_previous": len(sap_plan.previous),
            "fed_two": fed.count(2), "fed_one": fed.count(1), "fed_none": fed.count(0)}
