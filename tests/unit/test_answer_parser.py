"""The answer parser against real-looking replies of GPT-4o, LLaVA, Qwen-VL and small LMs.

Each row: the reply, the expected letter (None for a failure) and status. Most rows use the five
EK100-MQA-like options below (A-E).
"""

from __future__ import annotations

import doctest
import random
import time

import pytest

from actbench.model_adapters import answer_parser
from actbench.model_adapters.answer_parser import ParsedAnswer, parse_answer

OPTIONS = ("take plate", "cut onion", "wash cup", "wash hands", "open fridge")

OK, FAIL, REFUSED = "ok", "parse_fail", "refused"

CASES = [
    # --- bare letters (LLaVA-OneVision / LLaVA-Video with "answer with the option's letter")
    ("C", "C", OK),
    ("C.", "C", OK),
    ("(C)", "C", OK),
    ("**C**", "C", OK),
    (" c \n", "C", OK),
    ("[B]", "B", OK),
    ("A.", "A", OK),
    ("A", "A", OK),
    ("E", "E", OK),
    ("Option B", "B", OK),
    ("B\n\nThe person is holding a knife over a chopping board.", "B", OK),
    ("B\r\n\r\nThe person is holding a knife.", "B", OK),
    # --- letter plus option text (Qwen2.5-VL, InternVL, GPT-4o-mini)
    ("C. wash cup", "C", OK),
    ("B) cut onion", "B", OK),
    ("(D) wash hands", "D", OK),
    ("**B. cut onion**", "B", OK),
    ("B - cut onion", "B", OK),
    ("E: open fridge.", "E", OK),
    # --- answer statements (GPT-4o, small LMs)
    ("Answer: c", "C", OK),
    ("answer: c", "C", OK),
    ("The answer is C", "C", OK),
    ("The correct answer is (D) wash hands.", "D", OK),
    ("**Answer:** B", "B", OK),
    ("Final answer: **E**", "E", OK),
    ("The answer is: B) cut onion. The knife is moving through the onion on the board.", "B", OK),
    ("Based on the frames, the most likely action is:\n\n**Answer: A. take plate**", "A", OK),
    ("The correct option is A.", "A", OK),
    ("The answer is most likely C.", "C", OK),
    ("Option D is correct.", "D", OK),
    ("B is the correct answer because the onion is being sliced.", "B", OK),
    ("I would choose B.", "B", OK),
    ("I'd go with option E, since the fridge door opens.", "E", OK),
    ("\\boxed{C}", "C", OK),
    ("The answer is A because the hand reaches for the plate.", "A", OK),
    # --- trailing explanations that mention other options' letters and texts
    (
        "D. wash hands\n\nThe person rubs their hands under the running tap; there is no cup (wash cup) "
        "and nothing is being cut.",
        "D",
        OK,
    ),
    (
        "The answer is B. Options A and C do not fit: no plate is taken and no cup is washed.",
        "B",
        OK,
    ),
    (
        "Looking at the video frames, the person holds a knife.\n\nAnswer: B\n\nExplanation: option A "
        "(take plate) is wrong because the plate stays on the counter.",
        "B",
        OK,
    ),
    ("**Answer: B**\n\n- A. take plate: no plate is picked up\n- C. wash cup: no water", "B", OK),
    # a small LM that continues the prompt: it echoes the options, then states its pick
    ("A. take plate\nB. cut onion\nC. wash cup\nD. wash hands\nE. open fridge\nAnswer: B", "B", OK),
    # --- an echoed option text, without a letter
    ("cut onion", "B", OK),
    ("Wash Hands.", "D", OK),
    ("  open   fridge ", "E", OK),
    ("Answer: take plate", "A", OK),
    ("open fridge\n\nThe person pulls the fridge door open; they do not wash cup or take plate.", "E", OK),
    # --- the article "A" and the pronoun "I" are not letters
    ("A person takes a plate.", None, FAIL),
    ("A person is cutting an onion with a knife.", None, FAIL),
    ("I think it is B.", "B", OK),
    ("I think the person is washing something.", None, FAIL),
    ("The answer is a person washing a cup.", None, FAIL),
    # --- never guess: several letters, out of range, no match, empty
    ("Both A and C", None, FAIL),
    ("A or B", None, FAIL),
    ("The answer is A or B.", None, FAIL),
    ("C and/or D", None, FAIL),
    ("It could be A, but it could also be C.", None, FAIL),
    ("The correct answer is not A.", None, FAIL),  # a negated letter is no claim
    ("It's definitely not C.", None, FAIL),
    ("B, not A", "B", OK),
    ("The answer is A. Wait, actually the answer is C.", None, FAIL),
    ("C. take plate", None, FAIL),  # the letter says C, the text says A
    ("F", None, FAIL),
    ("The answer is F.", None, FAIL),
    ("G) stir pot", None, FAIL),
    ("", None, FAIL),
    ("   \n  ", None, FAIL),
    ("The person is stirring a pot on the stove.", None, FAIL),
    ("take plate or wash cup", None, FAIL),
    ("cut onion\nwash cup", None, FAIL),  # two option texts echoed
    ("B) cut onion\nC) wash cup", None, FAIL),  # two letter lines, no statement
    # --- refusals
    ("I'm sorry, I can't help with that.", None, REFUSED),
    ("I'm sorry, but I cannot determine the action from these frames.", None, REFUSED),
    ("I cannot determine what the person is doing from the provided images.", None, REFUSED),
    ("As an AI, I am unable to view videos.", None, REFUSED),
    ("I\u2019m unable to identify the action. It might be B?", None, REFUSED),
    # a hedge followed by an explicit answer is an answer
    ("I can't be completely certain, but the answer is most likely D.", "D", OK),
]


@pytest.mark.parametrize(("reply", "letter", "status"), CASES, ids=[repr(c[0])[:50] for c in CASES])
def test_real_replies(reply, letter, status):
    parsed = parse_answer(reply, OPTIONS)
    assert (parsed.letter, parsed.status) == (letter, status), parsed


def test_enough_rows():
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    ("reply", "options", "letter", "how"),
    [
        # echo matching two options (the same text twice) cannot be resolved
        ("wash cup", ("wash cup", "take plate", "Wash-cup."), None, "option_text_ambiguous"),
        # "A <its own option text>" is the letter, not the article
        ("The answer is A take plate", OPTIONS, "A", "answer_is"),
        # with 2 options, C is out of range even though it is a plain letter
        ("C", ("take plate", "cut onion"), None, "out_of_range"),
        # with 9 options "I" is a letter, but the pronoun is still not
        ("I", tuple(f"verb{i} noun" for i in range(9)), "I", "letter_line"),
        ("I think it's H.", tuple(f"verb{i} noun" for i in range(9)), "H", "lone_letter"),
        # an option text starting with "a" is still matched by its echo
        ("A person opens the fridge", ("a person opens the fridge", "a person sits"), "A", "option_text"),
    ],
)
def test_edge_cases(reply, options, letter, how):
    parsed = parse_answer(reply, options)
    assert (parsed.letter, parsed.how) == (letter, how), parsed


def test_how_names_the_rule():
    assert parse_answer("B", OPTIONS).how == "letter_line"
    assert parse_answer("Answer: B", OPTIONS).how == "answer_is"
    assert parse_answer("Option B is correct.", OPTIONS).how == "letter_is_correct"
    assert parse_answer("I'd pick B.", OPTIONS).how == "i_choose"
    assert parse_answer("\\boxed{B}", OPTIONS).how == "boxed"
    assert parse_answer("Answer: B. B is correct.", OPTIONS).how == "answer_is"
    assert parse_answer("cut onion", OPTIONS).how == "option_text"
    assert parse_answer("I think B.", OPTIONS).how == "lone_letter"
    assert parse_answer("I'm sorry, I can't help with that.", OPTIONS).how == "refusal"
    assert parse_answer("Both A and C", OPTIONS).how == "several_letters"
    assert parse_answer("F", OPTIONS).how == "out_of_range"
    assert parse_answer("C. take plate", OPTIONS).how == "letter_text_conflict"
    assert parse_answer("", OPTIONS).how == "empty"
    assert parse_answer("The person stirs a pot.", OPTIONS).how == "no_answer"


def test_result_is_frozen_and_consistent():
    parsed = parse_answer("B", OPTIONS)
    with pytest.raises(AttributeError):
        parsed.letter = "C"
    with pytest.raises(ValueError):
        ParsedAnswer("B", "parse_fail", "x")
    with pytest.raises(ValueError):
        ParsedAnswer(None, "ok", "x")


def test_no_options_is_an_error():
    with pytest.raises(ValueError):
        parse_answer("A", [])


def test_docstring_example_runs():
    assert doctest.testmod(answer_parser).failed == 0


# hypothesis is not installed in the venv, so a seeded fuzz over replies glued from fragments.
_FRAGMENTS = (
    *"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    *" \n\t.,:;!?()[]*-/&'\u2019`#_\\{}",
    "Answer:", "answer is", "The correct answer is", "Option", "option", "I would choose", "is correct",
    " or ", " and ", "and/or", "I'm sorry", "I cannot determine", "A person", "I think", "\\boxed{",
    "take plate", "cut onion", "wash cup", "é", "答案", "0", "1", "\u00a0",
)


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_never_returns_an_invalid_letter(seed):
    rng = random.Random(seed)
    for _ in range(1500):
        n = rng.randint(1, 10)
        texts = ("take plate", "cut onion", "wash cup", "A", "b", "", "open fridge")
        options = [rng.choice(texts) for _ in range(n)]
        reply = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 12)))
        parsed = parse_answer(reply, options)
        valid = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n]
        assert parsed.status in ("ok", "parse_fail", "refused")
        assert (parsed.letter is not None) == (parsed.status == "ok")
        assert parsed.letter is None or parsed.letter in valid, (reply, options, parsed)
        # surrounding whitespace never changes the answer
        assert parse_answer(f"  {reply}\n", options) == parsed, (reply, options)


@pytest.mark.parametrize(
    "reply",
    [
        "The answer is" + " " * 100_000 + "xyz",
        "B" + " " * 100_000 + "is",
        "I" + "\t" * 100_000 + "choose",
        "answer is " * 20_000,
        "A " * 50_000,
    ],
    ids=["spaces-after-cue", "spaces-after-letter", "tabs-after-I", "repeated-cue", "many-letters"],
)
def test_long_whitespace_runs_stay_linear(reply):
    # A regression guard, not a benchmark: backtracking whitespace took 10-20 s on these 100 kB replies.
    start = time.perf_counter()
    parse_answer(reply, OPTIONS)
    assert time.perf_counter() - start < 3.0
