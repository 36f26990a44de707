"""Which vocabulary entries spell each option letter, for models scored by next-token logits.

Tokenizers of Llama / Qwen families spell the answer either as ``"A"`` or as ``" A"``; a letter's score
merges both (log-sum-exp in the adapters), so a model is not penalised for the space it prefers.
"""

from __future__ import annotations

from typing import Any

from actbench.records import LETTERS


def letter_token_ids(tokenizer: Any) -> dict[str, list[int]]:
    """Per letter, the ids of its one-token spellings among ``"A"`` and ``" A"`` (deduplicated).

    A spelling that takes several tokens is left out: its first token (a bare space, say) would be shared
    by every letter.
    """
    out: dict[str, list[int]] = {}
    for letter in LETTERS:
        ids: list[int] = []
        for form in (letter, " " + letter):
            encoded = tokenizer.encode(form, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] not in ids:
                ids.append(int(encoded[0]))
        out[letter] = ids
    return out
