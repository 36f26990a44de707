"""The one answer parser for every model that answers in text.

A model's reply becomes a letter only when the reply says so unambiguously; anything else is a
``parse_fail`` (scored wrong, counted separately) or ``refused``. The parser never guesses: two
different letters, a letter the question does not have, text matching no option or several, are all
failures. Rules, strongest first (the first rule that finds anything decides):

1. An explicit answer statement anywhere: ``answer_is`` ("Answer: c", "The correct answer is (D) wash
   hands."), ``letter_is_correct`` ("Option B is correct"), ``i_choose`` ("I would choose B"),
   ``boxed`` (``\\boxed{B}``).
2. ``letter_line``: a line that starts with a letter: "C", "C.", "(C)", "**C**", "Option B",
   "B) cut onion".
3. ``option_text``: the reply (or one of its lines) is exactly one option's text.
4. ``refusal``: "I'm sorry, I can't help with that", "I cannot determine ...".
5. ``lone_letter``: the capital letters standing alone in the reply ("I think it's B."), minus
   negated ones ("not A").

``how`` is the name of the rule that decided, or of the failure: ``empty``, ``several_letters``,
``out_of_range``, ``letter_text_conflict``, ``option_text_ambiguous``, ``no_answer``.

>>> parse_answer("The correct answer is (D) wash hands.", ["take plate", "cut onion", "open fridge",
...                                                       "wash hands", "close tap"])
ParsedAnswer(letter='D', status='ok', how='answer_is')
>>> parse_answer("A person takes a plate.", ["take plate", "cut onion"]).status
'parse_fail'
>>> parse_answer("Both A and C", ["take plate", "cut onion", "wash cup"]).how
'several_letters'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

from actbench.text import normalise  # the builder's "reads the same" rule
from actbench.records import LETTERS

ParseStatus = Literal["ok", "parse_fail", "refused"]


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """The parsed letter (only when ``status == "ok"``) and the rule that decided (``how``)."""

    letter: str | None
    status: ParseStatus
    how: str

    def __post_init__(self) -> None:
        if (self.letter is not None) != (self.status == "ok"):
            raise ValueError(f"letter {self.letter!r} does not fit status {self.status!r}")


# A letter "stands alone" when no word character, apostrophe or hyphen touches it: "I'm", "T-shirt"
# and "e.g" are not letters.
_ALONE = r"(?![\w'-])"
_OPEN = r"[(\[]?[ \t]*+"
# Whitespace runs are matched possessively (*+, ++) throughout: several optional parts separated by
# backtracking \s* take polynomial time on a reply with a long run of spaces or newlines.

# Answer statements. Lower-case letters count here ("answer: c"): the cue word makes them letters.
_STATEMENTS = (
    ("answer_is", re.compile(
        r"\b(?:answer(?:\s++to\s++(?:this|the)\s++question)?|option|choice)"
        r"\s*+(?:is|would\s++be|will\s++be|should\s++be|[:=]|-(?=\s))"
        r"(?:\s*+(?::|(?:most\s++)?likely\b|probably\b|clearly\b|definitely\b|option\b|choice\b|letter\b))*+"
        rf"\s*+{_OPEN}([A-Za-z]){_ALONE}",
        re.IGNORECASE,
    )),
    # Upper-case only: "a is correct" is too rare to be worth the false hits. It starts on a non-space
    # character, since it is tried at every position of the reply.
    ("letter_is_correct", re.compile(
        r"(?<![\w'-])(?i:option\s++|choice\s++)?[(\[]?([A-Z])[)\]]?\s++is\s++(?:the\s++)?"
        r"(?i:correct|right|best|most\s++likely|most\s++appropriate)\b"
    )),
    ("i_choose", re.compile(
        r"\bI(?:\s++would|\s++will|'d|'ll)?\s++(?:choose|select|pick|go\s++with)\s++"
        rf"(?:option\s++|choice\s++)?{_OPEN}([A-Za-z]){_ALONE}",
        re.IGNORECASE,
    )),
    ("boxed", re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?([A-Za-z])\s*\}")),
)

# A line starting with a letter and a delimiter, or the letter alone on its line. The delimiter is
# required, which is what keeps "A person takes a plate" from being answer A ("e.g." is excluded).
_LETTER_LINE = re.compile(
    rf"^[ \t>]*+(?:(?:option|choice)[ \t]*+:?[ \t]*+)?{_OPEN}([A-Za-z])[ \t]*+"
    r"(?:[)\]][ \t]*+[.:]?|\.(?![A-Za-z]\.)|:|[-–—](?=[ \t])|$)",
    re.IGNORECASE | re.MULTILINE,
)

_LONE_LETTER = re.compile(rf"(?<![\w'-])([A-Z]){_ALONE}")
# "not A" is no claim of A: a negated lone letter is dropped ("The answer is not A." has no answer).
_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\bexcept|\bexcluding)\s+(?:option\s+|choice\s+)?[(\[]?\s*$", re.IGNORECASE
)

# "A or B", "C and/or D", "A, B": a second letter right after the first makes the claim ambiguous.
_ALTERNATIVE = re.compile(
    rf"[ \t]*+[)\]]?[ \t]*+(?:and/or|or|and|nor|/|&|,)[ \t]*+(?:option[ \t]++)?{_OPEN}([A-Za-z]){_ALONE}",
    re.IGNORECASE,
)

# After "A"/"I", these words show a letter ("A or B", "A is correct"); any other word shows the
# article or the pronoun ("A person", "I think").
_NEXT_WORD = re.compile(r"[ \t]+([A-Za-z]+)")
_LETTER_CONNECTORS = frozenset(
    "and or nor but is was seems appears fits matches because since as vs versus".split()
)

# The text after a letter up to the end of its sentence: "(D) wash hands. The person ..." -> "wash hands".
_REST = re.compile(r"[ \t)\].:\-–—]*([^\n.;!?(]*)")

# Only wording a model uses to decline. Checked after the explicit rules, so a model that apologises and
# then answers ("I can't be sure, but the answer is B") is scored on its answer; checked before lone
# letters, which are weaker evidence than the refusal ("Sorry, I can't tell. Maybe B?" is refused).
_REFUSAL = re.compile(
    r"\bI\s*(?:'m|am)\s+sorry\b|\bI\s+apologi[sz]e\b|\bas\s+an\s+AI\b"
    r"|\bI(?:\s+cannot|\s+can\s*not|\s+can't|\s+am\s+unable|'m\s+unable|\s+am\s+not\s+able|'m\s+not\s+able"
    r"|\s+do\s+not|\s+don't)\s+(?:to\s+)?(?:help|assist|determine|tell|identify|answer|see|view|watch|access|"
    r"provide|process|analy[sz]e|know|comply|be\s+sure|say)\b"
    r"|\bunable\s+to\s+(?:determine|tell|identify|answer|see|view|watch|access|analy[sz]e)\b"
    r"|\b(?:cannot|can't)\s+be\s+determined\b|\bnot\s+possible\s+to\s+(?:determine|tell)\b"
    r"|\b(?:not\s+enough|insufficient)\s+information\b",
    re.IGNORECASE,
)

_MARKDOWN = re.compile(r"\*+|`+|__|^[ \t]*#+[ \t]*", re.MULTILINE)
_ECHO_PREFIX = re.compile(r"^(?:the )?(?:final |correct |best )?(?:answer|action)(?: is)? ")


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    how: str
    letter: str  # upper case
    ambiguous: bool  # "A or B"
    conflict: bool  # "C. take plate" where "take plate" is another option's text


def parse_answer(text: str, options: Sequence[str]) -> ParsedAnswer:
    """Parse a model's reply to a question with these options (A, B, ... in order)."""
    if not 1 <= len(options) <= len(LETTERS):
        raise ValueError(f"a question has 1 to {len(LETTERS)} options, got {len(options)}")
    valid = LETTERS[: len(options)]
    norm_options = [normalise(o) for o in options]
    # Curly apostrophes, Windows line ends and markdown emphasis carry no meaning for the rules.
    text = text.replace("\u2019", "'").replace("\r\n", "\n").replace("\r", "\n")
    text = _MARKDOWN.sub("", text).strip()
    if not text:
        return ParsedAnswer(None, "parse_fail", "empty")

    hits = [
        _hit(text, m, how, norm_options)
        for how, pattern in _STATEMENTS
        for m in pattern.finditer(text)
        if _is_letter(text, m, norm_options)
    ]
    if hits:
        return _decide(hits, valid)
    # A statement outranks letter lines because small models echo the option list before answering
    # ("A. take plate\nB. cut onion\nAnswer: B"); without a statement, two letter lines are a failure.
    hits = [_hit(text, m, "letter_line", norm_options) for m in _LETTER_LINE.finditer(text)]
    if hits:
        return _decide(hits, valid)

    echoed = _echoed_options(text, norm_options)
    if len(echoed) == 1:
        return ParsedAnswer(valid[echoed.pop()], "ok", "option_text")
    if echoed:
        return ParsedAnswer(None, "parse_fail", "option_text_ambiguous")

    if _REFUSAL.search(text):
        return ParsedAnswer(None, "refused", "refusal")

    hits = [
        _Hit(m.start(), "lone_letter", m.group(1), False, False)
        for m in _LONE_LETTER.finditer(text)
        if _is_letter(text, m, norm_options)
        and not _NEGATION_BEFORE.search(text, max(0, m.start() - 30), m.start())
    ]
    if hits:
        return _decide(hits, valid)
    return ParsedAnswer(None, "parse_fail", "no_answer")


def _is_letter(text: str, m: re.Match, norm_options: list[str]) -> bool:
    """False for the article "a" and the pronoun "I" ("A person ...", "I think ..."), unless the
    next words are that letter's own option text ("A take plate")."""
    letter = m.group(1).upper()
    if letter not in "AI":
        return True
    nxt = _NEXT_WORD.match(text, m.end(1))
    if nxt is None or nxt.group(1).lower() in _LETTER_CONNECTORS:
        return True
    index = LETTERS.index(letter)
    own = norm_options[index] if index < len(norm_options) else ""
    # A bounded slice: enough for the option text with generous punctuation, and no quadratic cost on a
    # long reply full of "I ...".
    following = text[m.end(1) : m.end(1) + 4 * len(own) + 40]
    return bool(own) and (normalise(following) + " ").startswith(own + " ")


def _hit(text: str, m: re.Match, how: str, norm_options: list[str]) -> _Hit:
    letter = m.group(1).upper()
    alternative = _ALTERNATIVE.match(text, m.end(1))
    ambiguous = alternative is not None and _is_letter(text, alternative, norm_options)
    rest = normalise(_REST.match(text, m.end(1)).group(1))
    index = LETTERS.index(letter)
    own = norm_options[index] if index < len(norm_options) else None
    conflict = bool(rest) and rest != own and rest in norm_options
    return _Hit(m.start(), how, letter, ambiguous, conflict)


def _decide(hits: list[_Hit], valid: str) -> ParsedAnswer:
    """One letter, claimed without alternatives, valid, and not contradicted by its text, or a failure."""
    letters = {h.letter for h in hits}
    if any(h.ambiguous for h in hits) or len(letters) > 1:
        return ParsedAnswer(None, "parse_fail", "several_letters")
    (letter,) = letters
    if letter not in valid:
        return ParsedAnswer(None, "parse_fail", "out_of_range")
    if any(h.conflict for h in hits):
        return ParsedAnswer(None, "parse_fail", "letter_text_conflict")
    return ParsedAnswer(letter, "ok", min(hits, key=lambda h: h.start).how)  # the first claim names it


def _echoed_options(text: str, norm_options: list[str]) -> set[int]:
    """Indices of the options whose text is the whole reply or a whole line of it (with or without an
    "Answer:" in front). Lines matter because models add an explanation after the echoed text."""
    found: set[int] = set()
    for part in (text, *text.splitlines()):
        norm = normalise(part)
        for candidate in (norm, _ECHO_PREFIX.sub("", norm)):
            found.update(i for i, o in enumerate(norm_options) if o and candidate == o)
    return found
