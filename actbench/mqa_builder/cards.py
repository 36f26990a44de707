"""Benchmark cards: named, ready-made benchmark definitions in ``benchmarks/*.toml``.

A card fixes the source, K, option mode and seed of a benchmark so that ``actbench build-mqa
--benchmark ek100-mqa-prior`` builds the same questions everywhere. Cards are files people edit, so
they are read by a strict model: an unknown key is an error, not silently ignored.

>>> sorted(c.name for c in load_cards())[:2]
['ek100-mqa-avion', 'ek100-mqa-prior']
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from actbench.errors import ActbenchError

CARDS_ENV = "ACTBENCH_BENCHMARKS_DIR"
# The cards ship in the repository's benchmarks/ folder (next to the package in a checkout).
DEFAULT_CARDS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


class BenchmarkCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    dataset: str = "epic-kitchens-100"
    split: str = "validation"
    source: str
    k: int = 5
    options: str = "narration"
    seed: int = 0
    limit: int | None = None


def cards_dir() -> Path:
    """$ACTBENCH_BENCHMARKS_DIR, else the checkout's benchmarks/, else ./benchmarks (a wheel install)."""
    if os.environ.get(CARDS_ENV):
        return Path(os.environ[CARDS_ENV])
    return DEFAULT_CARDS_DIR if DEFAULT_CARDS_DIR.is_dir() else Path.cwd() / "benchmarks"


def _load_card(path: Path) -> BenchmarkCard:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ActbenchError.bad_value(path, "toml", "a valid TOML file", str(error)) from None
    try:
        card = BenchmarkCard.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "card"
        raise ActbenchError.bad_value(path, field, first["msg"].lower(), first.get("input", "")) from None
    if card.name != path.stem:
        raise ActbenchError.bad_value(path, "name", f"the file's stem {path.stem!r}", card.name)
    return card


def load_cards(directory: Path | None = None) -> list[BenchmarkCard]:
    directory = directory or cards_dir()
    if not directory.is_dir():
        return []
    return [_load_card(p) for p in sorted(directory.glob("*.toml"))]


def get_card(name: str, directory: Path | None = None) -> BenchmarkCard:
    cards = {c.name: c for c in load_cards(directory)}
    if name not in cards:
        close = difflib.get_close_matches(name, list(cards), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ActbenchError(f"unknown benchmark {name!r}{hint} (known: {', '.join(sorted(cards))})")
    return cards[name]
