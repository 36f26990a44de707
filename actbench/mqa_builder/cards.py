"""Benchmark cards: named, ready-made benchmark definitions in ``benchmarks/*.toml``.

A card fixes the source, K, option mode and seed of a benchmark so that ``actbench build-mqa
--benchmark ek100-mqa-prior`` builds the same questions everywhere. Cards are files people edit, so
they are read by a strict model: an unknown key is an error, not silently ignored.

>>> {'ek100-mqa-prior', 'goalstep-mqa-temporal'} <= {c.name for c in load_cards()}
True
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from actbench.errors import ActbenchError
from actbench.registry import suggestion

CARDS_ENV = "ACTBENCH_BENCHMARKS_DIR"
# The cards ship in the repository's benchmarks/ folder (next to the package in a checkout).
DEFAULT_CARDS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


class BenchmarkCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    dataset: str = "epic-kitchens-100"  # a name of actbench.datasets.registry (checked when built)
    split: str | None = None  # None: the dataset's default split
    source: str
    k: int = Field(5, ge=2, le=26)
    options: Literal["narration", "label"] | None = None  # None: narration where the dataset has descriptions
    seed: int = Field(0, ge=0)
    limit: int | None = Field(None, ge=1)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from actbench.datasets.registry import DATASETS, is_dataset_name

        if not is_dataset_name(name):
            raise ValueError(f"one of {', '.join(DATASETS.names())}, or csv:<folder>")
        return name


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
        raise ActbenchError.from_validation(path, error, "card") from None
    if card.name != path.stem:
        raise ActbenchError.bad_value(path, "name", f"the file's stem {path.stem!r}", card.name)
    return card


def load_cards(directory: Path | None = None) -> list[BenchmarkCard]:
    directory = directory or cards_dir()
    if not directory.is_dir():
        return []
    return [_load_card(p) for p in sorted(directory.glob("*.toml"))]


def get_card(name: str, directory: Path | None = None) -> BenchmarkCard:
    """The card ``NAME.toml`` (only that file is read, so a broken card elsewhere does not block it)."""
    directory = directory or cards_dir()
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []
        raise ActbenchError(f"unknown benchmark {name!r}{suggestion(name, known)} (known: {', '.join(known)})")
    return _load_card(path)
