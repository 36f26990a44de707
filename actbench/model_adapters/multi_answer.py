"""Multi-label questions: their key, replies that name several letters, and the journal form of an answer.

A multi-label question (Animal Kingdom: every action of the clip is a correct option) keeps the standard
``answer_index`` / ``answer_letter`` (its first correct option, so single-answer readers still work) and
carries in ``Question.extra`` ``answer_indices`` (sorted) and ``answer_letters`` (``"AC"``). A model's
answer to it is the set of letters it chose, journaled as the sorted letters (``"AC"``; one letter is a
set of one). It is exactly right when the set equals the key; the Jaccard accuracy gives partial credit.

:func:`parse_answers` reads a reply to the multi-label prompt ("Select all the options that apply ...").
Like :func:`~actbench.model_adapters.answer_parser.parse_answer` it never guesses; rules, strongest
first (the first rule that finds anything decides):

1. ``answer_is``: answer statements naming a list ("The answers are B, D.", "Answer: a, c",
   "I choose A and D", "Options B and E are correct"); statements naming different sets fail
   (``conflicting_answers``).
2. ``letter_list``: a line that is only a list of letters: "A, C", "A and C", "(A) (C)", "A C".
3. ``compact``: the whole reply is the letters run together, "AC" (each valid, none twice).
4. ``letter_line``: lines starting with a letter and a delimiter ("A. eating" / "C) walking"); lines
   naming every option are an echo of the prompt (``echoed_options``), a letter followed by another
   option's text fails (``letter_text_conflict``).
5. ``option_text``: lines that are option texts, or option texts separated by commas / "and".
6. ``refusal``: the refusals of the single-answer parser.
7. ``lone_letter``: capital letters standing alone, minus negated ones ("not E") and ones said to be
   wrong ("B is incorrect").

"A or C" (an alternative, not a choice) fails as ``alternatives``; a letter the question does not have
fails as ``out_of_range``; nothing found is ``no_answer``.

>>> options = ["eating", "walking", "sitting", "running"]
>>> parse_answers("The answers are B, D.", options)
ParsedAnswers(letters='BD', status='ok', how='answer_is')
>>> parse_answers("(C) (A)", options).letters, parse_answers("A or C", options).how
('AC', 'alternatives')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from actbench.errors import ActbenchError
from actbench.model_adapters.answer_parser import (
    _ECHO_PREFIX,
    _LETTER_LINE,
    _LONE_LETTER,
    _MARKDOWN,
    _NEGATION_BEFORE,
    _REFUSAL,
    ParsedAnswer,
    ParseStatus,
    _hit,
    _is_letter,
    parse_answer,
)
from actbench.records import LETTERS, Question
from actbench.text import normalise

ANSWER_INDICES = "answer_indices"  # Question.extra of a multi-label question: sorted correct positions
ANSWER_LETTERS = "answer_letters"  # ... and their letters, "AC"


def is_multi_label(q: Question) -> bool:
    return ANSWER_INDICES in q.extra


def key_letters(q: Question) -> str | None:
    """The letters that are right: ``"AC"`` for a multi-label question, else its one letter (or None)."""
    if is_multi_label(q):
        return "".join(LETTERS[i] for i in q.extra[ANSWER_INDICES])
    return q.answer_letter


def answer_fits(q: Question, answer: str | None) -> bool:
    """Whether ``answer`` is an answer to ``q``: one of its letters, or for a multi-label question its
    letters sorted, each once (``"AC"``, not ``"CA"`` nor ``"AA"``)."""
    if not isinstance(answer, str) or not answer:
        return False
    if not is_multi_label(q):
        return answer in q.letters
    return all(c in q.letters for c in answer) and list(answer) == sorted(set(answer))


def check_key(record: dict, n_options: int, where: object) -> None:
    """A question line's ``answer_indices`` / ``answer_letters``, when present, against its options and
    ``answer_index`` (the first of them); a one-line error names what is wrong."""
    if ANSWER_INDICES not in record and ANSWER_LETTERS not in record:
        return
    indices = record.get(ANSWER_INDICES)
    if not (isinstance(indices, list) and indices and all(type(i) is int and 0 <= i < n_options for i in indices)
            and indices == sorted(set(indices))):
        raise ActbenchError.bad_value(where, ANSWER_INDICES, f"a sorted list of distinct indices in [0, {n_options})",
                                      indices)
    letters = "".join(LETTERS[i] for i in indices)
    if record.get(ANSWER_LETTERS) != letters:
        raise ActbenchError.bad_value(where, ANSWER_LETTERS, letters, record.get(ANSWER_LETTERS))
    if record.get("answer_index") != indices[0]:
        raise ActbenchError.bad_value(where, "answer_index", f"{indices[0]} (the first of {ANSWER_INDICES})",
                                      record.get("answer_index"))


def refuse_multi_label(model: str, questions: Sequence[Question], why: str) -> None:
    """Stop a run whose adapter can only pick one letter (``why``) before it answers a multi-label question."""
    q = next((q for q in questions if is_multi_label(q)), None)
    if q is not None:
        raise ActbenchError(f"model '{model}' {why}, so it cannot answer multi-label questions ({q.id} has "
                            f"{len(q.extra[ANSWER_INDICES])} correct options); use a generating mode")


@dataclass(frozen=True, slots=True)
class ParsedAnswers:
    """The chosen letters, sorted (only when ``status == "ok"``), and the rule that decided (``how``)."""

    letters: str | None
    status: ParseStatus
    how: str

    def __post_init__(self) -> None:
        if (self.letters is not None) != (self.status == "ok"):
            raise ValueError(f"letters {self.letters!r} do not fit status {self.status!r}")

    @property
    def letter(self) -> str | None:
        """The journal's ``answer``: the same field name as :class:`ParsedAnswer`."""
        return self.letters


def parse_reply(text: str, q: Question) -> ParsedAnswer | ParsedAnswers:
    """The parser the question asks for: several letters for a multi-label question, else one."""
    return parse_answers(text, q.options) if is_multi_label(q) else parse_answer(text, q.options)


# A letter item of a list: "A", "(A)", "[a]", standing alone (not "I'm", "T-shirt", "e.g").
_ITEM = r"(?<![\w'-])[(\[]?[ \t]*+([A-Za-z])(?:[ \t]*+[)\]])?(?![\w'-])"
_ITEM_RE = re.compile(_ITEM)
_SEP = r"[ \t]*+(?:(?:,|;|&|\+|\band\b)[ \t]*+)?(?:and[ \t]++)?"
# At most 26 items: a list never names more letters than there are, and the bound keeps a search over a
# long reply ("A A A ...") linear instead of trying every suffix at every position.
_LIST = rf"{_ITEM}(?:{_SEP}{_ITEM}){{0,25}}+"
_CUE = (r"(?:\b(?:answers?|options?|choices?|letters?)(?:\s++that\s++apply)?"
        r"\s*+(?:are|is|would\s++be|will\s++be|should\s++be|[:=]|-(?=\s))"
        r"|\bI(?:\s++would|\s++will|'d|'ll)?\s++(?:choose|select|pick|go\s++with))"
        r"(?:\s*+(?::|options?\b|choices?\b|letters?\b))*+\s*+")
_STATEMENT = re.compile(_CUE + rf"({_LIST})", re.IGNORECASE)
# "A and C are correct": upper-case letters only, as in the single-answer parser ("a is correct" is rare).
_UPPER_ITEM = _ITEM.replace("[A-Za-z]", "[A-Z]")
_UPPER_LIST = rf"{_UPPER_ITEM}(?:{_SEP}{_UPPER_ITEM}){{0,25}}+"
_ARE_CORRECT = re.compile(rf"(?:\b(?:options?|choices?)\s++)?(?-i:({_UPPER_LIST}))\s++(?:are|is)\s++(?:the\s++)?"
                          r"(?:correct|right|true|the\s++answers?)\b", re.IGNORECASE)
_LIST_LINE = re.compile(rf"[ \t>]*+(?:answers?[ \t]*+:[ \t]*+)?({_LIST})[ \t]*+[.!]?[ \t]*+")
_COMPACT = re.compile(r"[A-Z]{2,26}")
_ALTERNATIVE = re.compile(rf"[ \t]*+[)\]]?[ \t]*+(?:(?:and/or|or|nor)[ \t]++|/[ \t]*+)(?:option[ \t]++)?{_ITEM}", re.IGNORECASE)
_SAID_WRONG = re.compile(r"[ \t)\]]*+(?:is|are|was|seems)[ \t]++(?:not\b|incorrect|wrong|false)", re.IGNORECASE)
_TEXT_SEPARATOR = re.compile(r"\s*(?:,|;|\band\b)\s*", re.IGNORECASE)


class _Fail(Exception):
    def __init__(self, how: str):
        self.how = how


def _letters_in(text: str, start: int, end: int, norm_options: list[str]) -> list[str]:
    """The letters of a list span, cut at the first item that is no letter ("C and I think": the pronoun)
    or that breaks the case of the first ("The answer is B and a ..."). Only the last item can be the
    article or the pronoun: one followed by another item is a letter ("A C")."""
    found: list[str] = []
    lower = None
    items = list(_ITEM_RE.finditer(text, start, end))
    for k, m in enumerate(items):
        if k == len(items) - 1 and not _is_letter(text, m, norm_options):
            break
        is_lower = m.group(1).islower()
        lower = is_lower if lower is None else lower
        if is_lower != lower:
            break
        found.append(m.group(1).upper())
    if found and _ALTERNATIVE.match(text, end):
        raise _Fail("alternatives")
    return found


def _one_set(sets: list[list[str]], how: str) -> tuple[set[str], str] | None:
    sets = [set(s) for s in sets if s]
    if not sets:
        return None
    if any(s != sets[0] for s in sets):
        raise _Fail("conflicting_answers")
    return sets[0], how


def _statements(text: str, norm: list[str]) -> tuple[set[str], str] | None:
    found = [_letters_in(text, m.start(1), m.end(1), norm) for m in _STATEMENT.finditer(text)]
    found += [_letters_in(text, m.start(1), m.end(1), norm) for m in _ARE_CORRECT.finditer(text)]
    return _one_set(found, "answer_is")


def _list_lines(text: str, norm: list[str]) -> tuple[set[str], str] | None:
    found = []
    for line in text.splitlines():
        m = _LIST_LINE.fullmatch(line)
        if m is not None:
            found.append(_letters_in(line, m.start(1), m.end(1), norm))
    return _one_set(found, "letter_list")


def _letter_lines(text: str, norm: list[str]) -> tuple[set[str], str] | None:
    hits = [_hit(text, m, "letter_line", norm) for m in _LETTER_LINE.finditer(text)]
    if not hits:
        return None
    if any(h.conflict for h in hits):
        raise _Fail("letter_text_conflict")
    letters = {h.letter for h in hits}
    if len(norm) > 1 and letters >= set(LETTERS[: len(norm)]):
        raise _Fail("echoed_options")  # the prompt's option list repeated, not a choice
    return letters, "letter_line"


def _option_texts(text: str, norm: list[str]) -> tuple[set[str], str] | None:
    found: set[int] = set()
    for line in (text, *text.splitlines()):
        whole = _ECHO_PREFIX.sub("", normalise(line))
        if whole in norm:
            found.add(norm.index(whole))
            continue
        parts = [_ECHO_PREFIX.sub("", normalise(p)) for p in _TEXT_SEPARATOR.split(line) if p.strip()]
        if len(parts) > 1 and all(p in norm for p in parts):
            found.update(norm.index(p) for p in parts)
    if not found:
        return None
    if len(norm) > 1 and len(found) == len(norm):
        raise _Fail("echoed_options")
    return {LETTERS[i] for i in found}, "option_text"


def _lone_letters(text: str, norm: list[str]) -> tuple[set[str], str] | None:
    hits = [m for m in _LONE_LETTER.finditer(text)
            if _is_letter(text, m, norm)
            and not _NEGATION_BEFORE.search(text, max(0, m.start() - 30), m.start())
            and not _SAID_WRONG.match(text, m.end(1))]
    if any(_ALTERNATIVE.match(text, m.end(1)) for m in hits):
        raise _Fail("alternatives")
    return ({m.group(1) for m in hits}, "lone_letter") if hits else None


def parse_answers(text: str, options: Sequence[str]) -> ParsedAnswers:
    """Parse a reply to a multi-label question with these options (A, B, ... in order)."""
    if not 1 <= len(options) <= len(LETTERS):
        raise ValueError(f"a question has 1 to {len(LETTERS)} options, got {len(options)}")
    valid = LETTERS[: len(options)]
    norm = [normalise(o) for o in options]
    text = text.replace("\u2019", "'").replace("\r\n", "\n").replace("\r", "\n")
    text = _MARKDOWN.sub("", text).strip()
    if not text:
        return ParsedAnswers(None, "parse_fail", "empty")
    compact = text.rstrip(".")
    try:
        for rule in (_statements, _list_lines):
            found = rule(text, norm)
            if found is not None:
                return _decide(*found, valid)
        if _COMPACT.fullmatch(compact) and len(set(compact)) == len(compact) and set(compact) <= set(valid):
            return _decide(set(compact), "compact", valid)
        for rule in (_letter_lines, _option_texts):
            found = rule(text, norm)
            if found is not None:
                return _decide(*found, valid)
        if _REFUSAL.search(text):
            return ParsedAnswers(None, "refused", "refusal")
        found = _lone_letters(text, norm)
        if found is not None:
            return _decide(*found, valid)
    except _Fail as failure:
        return ParsedAnswers(None, "parse_fail", failure.how)
    return ParsedAnswers(None, "parse_fail", "no_answer")


def _decide(letters: set[str], how: str, valid: str) -> ParsedAnswers:
    if not letters <= set(valid):
        return ParsedAnswers(None, "parse_fail", "out_of_range")
    return ParsedAnswers("".join(sorted(letters)), "ok", how)
