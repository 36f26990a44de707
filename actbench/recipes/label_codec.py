"""Label text <-> generation targets, and generated output -> one class of the closed label set.

A generative classifier is trained to write its target after ``Assistant:``; to score it as a classifier
its output is mapped back to a class. For plain text targets the mapping is the reference rule (GAD code,
after VideoLLM-online): clean the text with ``.strip('.').lower().strip()`` and take
``min((levenshtein(text, c), c) for c in choices)``, so ties go to the alphabetically first name.

The Gen ablations of the paper's §4.2 replace a label's subword tokens (``label_mapping``):

- ``rand``: every distinct subword id used by the labels maps to one random vocabulary id (a bijection
  onto a random subset), the same in every label; decoding maps ids back, then applies the text rule.
- ``desync``: every subword of every label gets its own random id, so no two labels share a token;
  decoding takes the label whose id sequence is nearest in token edit distance (ties: first name).
- ``extend``: one new token per class (``<|act_i|>``); the model's embeddings for them are initialised
  from random existing rows (feature_lm.py); decoding reads the first generated token.

>>> closest_label("Take Knife.", ["take fork", "take knife", "put knife"])
'take knife'
>>> levenshtein("kitten", "sitting")
3
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from actbench.evaluators.dscore import clean_output  # the reference cleaning, shared with the memorization rate

EXTEND_TOKEN = "<|act_{}|>"


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance (insert, delete, substitute; cost 1 each) between two strings or id sequences."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _fast_distance():
    try:  # the C implementation of the same distance, when installed (it is optional)
        from Levenshtein import distance

        return distance
    except ImportError:
        return levenshtein


def closest_label(text: str, choices: Sequence[str]) -> str:
    """The reference closed-set mapping: nearest name by edit distance, ties to the first in sort order."""
    return _closest(clean_output(text), tuple(choices))


@lru_cache(maxsize=65536)  # generated outputs repeat a lot (the same few labels per video)
def _closest(text: str, choices: tuple[str, ...]) -> str:
    if text in choices:
        return text
    distance = _fast_distance()
    return min((distance(text, c), c) for c in choices)[1]


class LabelCodec:
    """Generation targets for the class names of one head, and the mapping of outputs back to classes.

    ``tokenizer`` is a Hugging Face tokenizer; targets are tokenised with a leading space because they
    follow ``Assistant:``. ``seed`` fixes the random mappings.
    """

    def __init__(self, tokenizer, class_names: Sequence[str], *, mapping: str = "text", seed: int = 0):
        self.tokenizer = tokenizer
        self.class_names = tuple(class_names)
        self.mapping = mapping
        self._index = {name: i for i, name in enumerate(self.class_names)}
        base = [self.text_ids(name) for name in self.class_names]
        self.extend_tokens: list[str] = []
        if mapping == "text":
            self._class_ids = base
        elif mapping == "rand":
            self._class_ids, self._inverse = _consistent_random(base, self._ordinary_ids(), seed)
        elif mapping == "desync":
            self._class_ids = _independent_random(base, self._ordinary_ids(), seed)
        elif mapping == "extend":
            self.extend_tokens = [EXTEND_TOKEN.format(i) for i in range(len(self.class_names))]
            self._class_ids = []  # filled by bind_extended_ids once the tokens are in the vocabulary
        else:
            raise ValueError(f"unknown label mapping {mapping!r}")

    def _ordinary_ids(self) -> np.ndarray:
        special = set(self.tokenizer.all_special_ids)
        return np.array([i for i in range(len(self.tokenizer)) if i not in special], dtype=np.int64)

    def bind_extended_ids(self) -> None:
        """After the ``extend`` tokens were added to the tokenizer: each class is its one token."""
        ids = self.tokenizer.convert_tokens_to_ids(self.extend_tokens)
        self._class_ids = [[int(i)] for i in ids]
        self._extend_index = {int(i): c for c, i in enumerate(ids)}

    def text_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(" " + text, add_special_tokens=False)["input_ids"])

    def class_ids(self, index: int) -> list[int]:
        """The target ids of class ``index`` (without the end-of-sequence token)."""
        return list(self._class_ids[index])

    @property
    def max_class_tokens(self) -> int:
        return max(len(ids) for ids in self._class_ids)

    def decode_text(self, ids: Sequence[int]) -> str:
        if self.mapping == "rand":
            ids = [self._inverse[i] for i in ids if i in self._inverse]
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def to_class(self, ids: Sequence[int]) -> int:
        """The class an output id sequence (end-of-sequence excluded) maps to."""
        if self.mapping == "extend" and ids and int(ids[0]) in self._extend_index:
            return self._extend_index[int(ids[0])]
        if self.mapping == "desync":
            key = tuple(int(i) for i in ids)
            return min((levenshtein(key, t), self.class_names[c], c) for c, t in enumerate(self._class_ids))[2]
        return self._index[closest_label(self.decode_text(ids), self.class_names)]

    def text_to_class(self, text: str) -> int:
        return self._index[closest_label(text, self.class_names)]


def _consistent_random(base: list[list[int]], pool: np.ndarray, seed: int):
    used = sorted({i for ids in base for i in ids})
    rng = np.random.default_rng(seed)
    picked = rng.choice(pool, size=len(used), replace=False)
    forward = {u: int(p) for u, p in zip(used, picked)}
    return [[forward[i] for i in ids] for ids in base], {v: k for k, v in forward.items()}


def _independent_random(base: list[list[int]], pool: np.ndarray, seed: int) -> list[list[int]]:
    total = sum(len(ids) for ids in base)
    rng = np.random.default_rng(seed)
    # Without replacement while the vocabulary allows it, so that no token is shared between labels.
    picked = rng.choice(pool, size=total, replace=total > len(pool)).tolist()
    out, k = [], 0
    for ids in base:
        out.append([int(x) for x in picked[k:k + len(ids)]])
        k += len(ids)
    return out
