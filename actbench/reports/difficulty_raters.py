"""The two difficulty raters (LLaVAction §4.6): a chat model with the paper's prompt, or sentence embeddings.

Levels run from 1 (very easy) to 4 (hard), as in the paper's Table 8.

- ``llm``: each question becomes a rating request, a :class:`~actbench.records.Question` with four options
  ``"1"`` .. ``"4"`` whose whole prompt (``extra["prompt"]``, see :data:`PROMPT_KEY`) is Appendix C.6 filled
  with the question's ground truth and options. Any registered adapter that sends such a prompt as it is
  (``takes_custom_prompt = True``) can answer it, with its retries, budget and parsing. Two wordings:
  ``paper`` asks, as the paper does, for "a single number (1-4)", read from the reply text by
  :func:`parse_rating`; ``letters`` lists the scale as options A-D and asks for the letter, which models
  scored by their letter logits (a local LM) need: the level is then the adapter's letter.
- ``embedding``: the largest cosine similarity between the answer's text and a distractor's
  (all-MiniLM-L6-v2, see embeddings.py), cut at the fixed :data:`EMBEDDING_THRESHOLDS`.

A rating that cannot be read is recorded with its status (``parse_fail``, ``refused``, ``error``), never
guessed; a question without a correct option (two-stage) is ``no_answer``: neither can be rated.

>>> parse_rating("3"), parse_rating("Difficulty: 4 (Hard)"), parse_rating("2 or 3"), parse_rating("0.5")
(3, 4, None, None)
>>> similarity_levels([0.1, 0.35, 0.6, 0.95]).tolist()
[1, 2, 3, 4]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from actbench.errors import ActbenchError
from actbench.prompts import PROMPT_KEY
from actbench.records import LETTERS, Answer, Question

LEVELS = (1, 2, 3, 4)
LEVEL_NAMES = {1: "very easy", 2: "easy", 3: "medium", 4: "hard"}
RATING_STATUSES = ("ok", "parse_fail", "refused", "error", "no_answer")
PromptStyle = Literal["paper", "letters"]
PROMPT_STYLES: tuple[str, ...] = ("paper", "letters")
# Question.extra key of a whole prompt an adapter sends instead of its multiple-choice prompt.

# The largest similarity, not the mean: a question is as hard as its most confusable distractor (a
# model has to rule out every option, and one near-synonym suffices to fool it), while a mean lets the
# easy distractors of a question hide its one hard one.
EMBEDDING_STATISTIC = "max"
# Cut points of that similarity into levels 1|2|3|4, fixed here and recorded with every rating. Chosen
# by reading answer / closest-distractor pairs of the EPIC-KITCHENS-100 validation benchmarks (random,
# prior, temporal distractors) in bands of 0.1: below 0.35 the two actions are unrelated ('turn heat
# on' / 'pick up cup'); up to 0.55 they share the scene or a related object ('close cupboard' / 'open
# door'); up to 0.70 they share the object or the verb ('pick up lid' / 'wash lid'); from 0.70 on they
# differ only in a verb on the same object or are near paraphrases ('put pasta' / 'take pasta',
# 'open fridge' / 'close the fridge'). On those benchmarks (9,668 questions each) the levels 1-4 hold
# 76/21/2/1% of the random, 35/33/21/11% of the prior and 22/29/28/22% of the temporal questions.
EMBEDDING_THRESHOLDS = (0.35, 0.55, 0.70)

_SCALE = (
    ("Very Easy", "Options are very different from each other and the correct answer is obvious"),
    ("Easy", "Options have clear differences, correct answer is fairly obvious"),
    ("Medium", "Options have moderate similarity, requires some careful consideration"),
    ("Hard", "Options are quite similar, subtle differences make it challenging"),
)
# LLaVAction Appendix C.6, word for word except the last sentence in the ``letters`` wording.
_PROMPT = """You are analyzing a multiple-choice question for fine-grained action recognition. Your task is to \
rate the difficulty of distinguishing between the options based on how similar they are to each other and the \
ground truth answer.

Ground Truth Answer: {answer}

Options: {options}

Please analyze the semantic similarity between the options and rate the difficulty on a scale of 1-4:
{scale}

Consider factors like:
- Semantic similarity between action descriptions
- Specificity vs generality of actions
- Whether options describe similar but distinct actions
- How confusable the distractors are with the ground truth

{instruction}"""
_INSTRUCTION = {
    "paper": "Respond with only a single number (1-4) representing the difficulty score.",
    "letters": "Respond with only the letter (A, B, C or D) of the difficulty level.",
}
RATING_OPTIONS = tuple(str(level) for level in LEVELS)  # a reply "3" is option C's text: level 3 either way


def rater_id(rater: str, model: str | None = None, prompt: str = "paper") -> str:
    """The file name of a rating: ``embedding``, ``llm-gpt-4o``, ``llm-openai-NAME-letters`` ...

    >>> rater_id("llm", "openai:Qwen/Qwen2-7B", "letters")
    'llm-openai-Qwen-Qwen2-7B-letters'
    """
    if rater == "embedding":
        return "embedding"
    name = "llm-" + re.sub(r"[^A-Za-z0-9._]+", "-", str(model)).strip("-.")
    return name + ("-letters" if prompt == "letters" else "")


def rating_adapter(model: str, model_args: dict[str, Any], *, seed: int, data_dir: Path | None) -> Any:
    """The registered adapter ``model`` (``openai:NAME`` as in ``actbench run``), refused unless it sends a
    question's own prompt: any other would answer its multiple-choice prompt, not the rating request."""
    from actbench.model_adapters import MODELS
    from actbench.model_adapters.base import AdapterContext

    name, args = str(model), dict(model_args)
    if name.startswith("openai:"):
        name, args["model"] = "openai", name.split(":", 1)[1]
    adapter = MODELS.get(name)(AdapterContext(seed=seed, data_dir=data_dir, args=args))
    if not getattr(adapter, "takes_custom_prompt", False):
        if hasattr(adapter, "close"):
            adapter.close()
        raise ActbenchError(f"model '{model}' does not send a question's own prompt (takes_custom_prompt), "
                            "so it cannot be asked to rate difficulty")
    return adapter


def rating_prompt(q: Question, style: PromptStyle = "paper") -> str:
    """Appendix C.6 for one question; the options are listed without letters, so that in the ``letters``
    wording the only letters in the prompt are the difficulty levels'."""
    prefix = {"paper": lambda i: "", "letters": lambda i: f"{LETTERS[i]}. "}[style]
    scale = "\n".join(f"- {prefix(i)}{i + 1} ({name}): {text}" for i, (name, text) in enumerate(_SCALE))
    return _PROMPT.format(answer=q.options[q.answer_index], options="; ".join(q.options), scale=scale,
                          instruction=_INSTRUCTION[style])


def rating_question(q: Question, style: PromptStyle = "paper") -> Question:
    """The rating request for ``q`` as a four-option question any prompt-taking adapter can answer."""
    prompt = rating_prompt(q, style)
    return Question(q.id, q.video_id, q.start, q.end, prompt, RATING_OPTIONS, None, None,
                    tuple(f"level:{level}" for level in LEVELS), (None,) * len(LEVELS), {PROMPT_KEY: prompt})


# A digit 1-4 standing alone: not part of a word, a longer number or a decimal ("0.5", "1.0", "14").
_LEVEL_DIGIT = re.compile(r"(?<![\w.])([1-4])(?!\w|\.\d)")


def parse_rating(text: str) -> int | None:
    """The level a reply states: the one digit 1-4 standing alone in it (repeats allowed); None when
    there is none or several different ones ("2 or 3", "3 out of 4")."""
    found = {int(m) for m in _LEVEL_DIGIT.findall(text)}
    return found.pop() if len(found) == 1 else None


def rating_record(a: Answer, style: PromptStyle) -> dict[str, Any]:
    """A line of the ratings journal from the adapter's answer to a rating request."""
    level: int | None = None
    status = a.status
    if style == "letters" and a.status == "ok":
        level = LETTERS.index(a.answer) + 1 if a.answer in LETTERS[: len(LEVELS)] else None
    elif style == "paper" and a.status not in ("refused", "error"):
        # The adapter parsed the reply against the options "1".."4"; the paper asks for a number, so the
        # number in the text decides (a reply "Difficulty: 3" has no option text but one clear level).
        level = parse_rating(a.raw)
    if status in ("ok", "parse_fail"):
        status = "ok" if level is not None else "parse_fail"
    record = {"id": a.id, "level": level, "status": status, "raw": a.raw, "latency_s": round(a.latency_s, 6),
              "tokens_in": a.tokens_in, "tokens_out": a.tokens_out, "cost_usd": a.cost_usd}
    if "how" in a.extra:
        record["how"] = a.extra["how"]
    return record


def no_answer_record(q: Question) -> dict[str, Any]:
    return {"id": q.id, "level": None, "status": "no_answer", "raw": "no correct option to compare with"}


def similarity_levels(similarities: Sequence[float], thresholds: Sequence[float] = EMBEDDING_THRESHOLDS) -> np.ndarray:
    """Level 1 + the number of thresholds at or below each similarity."""
    return np.searchsorted(np.asarray(thresholds), np.asarray(similarities, dtype=np.float64), side="right") + 1


def answer_distractor_similarity(questions: Sequence[Question],
                                 embed: Callable[[list[str]], np.ndarray] | None = None) -> np.ndarray:
    """Per question with a key, the largest cosine similarity of the answer's text to a distractor's
    (NaN for a question without one). ``embed`` maps texts to L2-normalised rows (default MiniLM)."""
    if embed is None:
        from actbench.reports.embeddings import embed
    texts = sorted({o for q in questions if q.answer_index is not None for o in q.options})
    vectors = embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    row = {text: i for i, text in enumerate(texts)}
    out = np.full(len(questions), np.nan)
    for i, q in enumerate(questions):
        if q.answer_index is None:
            continue
        answer = vectors[row[q.options[q.answer_index]]].astype(np.float64)
        others = [vectors[row[o]] for k, o in enumerate(q.options) if k != q.answer_index]
        out[i] = float(np.max(np.asarray(others, dtype=np.float64) @ answer))
    return out


def embedding_records(questions: Sequence[Question],
                      embed: Callable[[list[str]], np.ndarray] | None = None) -> list[dict[str, Any]]:
    """The ratings of the embedding rater, one record per question in order."""
    # Levels from the similarity as written, so that the file agrees with itself at a threshold.
    similarity = np.round(answer_distractor_similarity(questions, embed), 6)
    levels = similarity_levels(np.nan_to_num(similarity, nan=0.0))
    return [no_answer_record(q) if q.answer_index is None else
            {"id": q.id, "level": int(level), "status": "ok", "similarity": float(s)}
            for q, s, level in zip(questions, similarity, levels)]
