"""LLaVAction's multiple-choice prompt (Appendix C.2 perspectives), shared by builders and adapters.

>>> print(format_mqa(EGOCENTRIC, ["take plate", "wash cup"]))
You are seeing this video from egocentric view and you are the person. Your hands are sometimes interacting with objects. What action are you doing? Here are the options of actions you can select:
A. take plate
B. wash cup
Answer with the option's letter from the given choices directly.

A multi-label question (several correct options, ``answer_indices`` in its extra) asks for every letter
that applies instead of one:

>>> format_mqa("What actions are the animals doing?", ["eating", "walking"], multi_label=True).splitlines()[-1]
"Select all the options that apply. Answer with the options' letters separated by commas."
"""

from __future__ import annotations

from collections.abc import Sequence

from actbench.model_adapters.multi_answer import is_multi_label
from actbench.records import LETTERS, Question

EGOCENTRIC = ("You are seeing this video from egocentric view and you are the person. Your hands are "
              "sometimes interacting with objects. What action are you doing?")
ALLOCENTRIC = ("The video is taken from egocentric view. The person's hands are sometimes interacting "
               "with objects. What action is the person doing?")
# "benchmark": the stem the benchmark's questions carry (EGOCENTRIC for EPIC and Goal-Step, a third-person
# stem for THUMOS, Breakfast ...), so a model is asked each dataset's own question unless a run overrides it.
# Third-person instructional videos (COIN, CrossTask): the question asks for the step of the task.
INSTRUCTIONAL = "This is a clip of an instructional video. Which step of the task is being performed?"
PERSPECTIVES: dict[str, str | None] = {"benchmark": None, "egocentric": EGOCENTRIC, "allocentric": ALLOCENTRIC}
OPTIONS_INTRO = "Here are the options of actions you can select:"
ANSWER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
MULTI_ANSWER_INSTRUCTION = "Select all the options that apply. Answer with the options' letters separated by commas."
# Question.extra key of a whole prompt of the question's own, sent instead of the multiple-choice prompt
# (a difficulty-rating request, see reports/difficulty_raters.py). Adapters that honour it declare
# ``takes_custom_prompt = True``.
PROMPT_KEY = "prompt"


def format_mqa(question: str, options: Sequence[str], *, multi_label: bool = False) -> str:
    lines = [f"{question} {OPTIONS_INTRO}"]
    lines += [f"{LETTERS[i]}. {text}" for i, text in enumerate(options)]
    lines.append(MULTI_ANSWER_INSTRUCTION if multi_label else ANSWER_INSTRUCTION)
    return "\n".join(lines)


def mqa_prompt(q: Question, stem: str) -> str:
    """The multiple-choice prompt of ``q`` with ``stem``: several letters asked for when it is multi-label."""
    return format_mqa(stem, q.options, multi_label=is_multi_label(q))


def prompt_for(q: Question, stem: str) -> str:
    """What a model is asked for ``q``: its own whole prompt (``q.extra["prompt"]``) when it carries one,
    else the multiple-choice prompt with ``stem``."""
    own = q.extra.get(PROMPT_KEY)
    return own if isinstance(own, str) and own else mqa_prompt(q, stem)
