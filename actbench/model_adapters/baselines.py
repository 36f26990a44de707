"""Deterministic baselines: the chance row, a letter-bias probe and the ceiling of the leaderboard.

On a multi-label question (several correct options, see :mod:`~actbench.model_adapters.multi_answer`) the
oracle answers every correct letter, ``always-a`` still answers "A" (a set of one letter), and ``random``
answers a uniformly random non-empty subset of the letters: the chance row of the Jaccard accuracy for a
model that guesses sets of any size.
"""

from __future__ import annotations

import hashlib

from actbench.errors import ActbenchError
from actbench.model_adapters.base import AdapterContext, LetterChooser
from actbench.model_adapters.multi_answer import is_multi_label, key_letters
from actbench.records import Question


class RandomAdapter(LetterChooser):
    """A uniformly random valid letter (a uniformly random non-empty set of letters for a multi-label
    question), a function of (seed, question id) only.

    Hashing the id (not drawing from a stream) makes the answer independent of batching, resumption
    and question order.
    """

    name = "random"

    def __init__(self, seed: int):
        super().__init__({"seed": seed})
        self.seed = seed

    def choose(self, question: Question) -> tuple[str, str]:
        digest = hashlib.sha256(f"{self.seed}:{question.id}".encode("utf-8")).digest()
        if is_multi_label(question):
            # The bits of a number in [1, 2^K - 1] say which letters are in; the bias of the modulo is below
            # 2^-37 (K <= 26 letters, 64 random bits).
            m = len(question.options)
            subset = 1 + int.from_bytes(digest[:8], "little") % (2**m - 1)
            letters = "".join(letter for i, letter in enumerate(question.letters) if subset >> i & 1)
            return letters, ", ".join(letters)
        u = int.from_bytes(digest[:8], "little") / 2.0**64
        letter = question.letters[int(u * len(question.options))]
        return letter, letter


class AlwaysA(LetterChooser):
    name = "always-a"

    def choose(self, question: Question) -> tuple[str, str]:
        return "A", "A"


class Oracle(LetterChooser):
    name = "oracle"

    def choose(self, question: Question) -> tuple[str, str]:
        # A two-stage question may have no correct option: nothing can be right, "A" is as good as any.
        letters = key_letters(question) or "A"
        return letters, ", ".join(letters)


def _no_args(ctx: AdapterContext, name: str) -> None:
    if ctx.args:
        raise ActbenchError.bad_value("--model-arg", next(iter(ctx.args)), f"no arguments for model '{name}'",
                                      ctx.args)


def random_adapter(ctx: AdapterContext) -> RandomAdapter:
    _no_args(ctx, "random")
    return RandomAdapter(ctx.seed)


def always_a_adapter(ctx: AdapterContext) -> AlwaysA:
    _no_args(ctx, "always-a")
    return AlwaysA()


def oracle_adapter(ctx: AdapterContext) -> Oracle:
    _no_args(ctx, "oracle")
    return Oracle()
