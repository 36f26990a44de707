"""Golden-file comparison: the text must match exactly, the numbers in it within a tolerance.

Numbers (p-values from a seeded bootstrap, entropies) may move in their last digits with another numpy;
everything else (layout, labels, order) must not move at all. ``UPDATE_GOLDEN=1`` rewrites the golden
copy instead of comparing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e-?\d+)?(?![\w.])")


def split_numbers(text: str) -> tuple[list[str], list[float]]:
    """The text with every decimal number replaced by a marker, and the numbers."""
    numbers = [float(m) for m in _NUMBER.findall(text)]
    return _NUMBER.split(text), numbers


def assert_matches_golden(text: str, name: str, *, abs_tol: float = 1e-6, rel_tol: float = 1e-6) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    golden = path.read_text(encoding="utf-8")
    got_text, got_numbers = split_numbers(text)
    want_text, want_numbers = split_numbers(golden)
    assert got_text == want_text, f"{name}: text differs from the golden copy (UPDATE_GOLDEN=1 to accept)"
    assert len(got_numbers) == len(want_numbers), name
    for got, want in zip(got_numbers, want_numbers):
        assert abs(got - want) <= max(abs_tol, rel_tol * abs(want)), f"{name}: {got} != {want}"
