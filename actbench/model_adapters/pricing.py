"""Prices of API models in USD per 1M tokens, and the cost of one request.

The built-in table holds OpenAI's public list prices (standard tier, not Batch) for the models the
papers compare. Prices change: a user overrides or extends the table with a TOML or JSON file given as
the ``prices`` model argument::

    schema_version = 1
    [models."gpt-4o"]
    input_per_1m = 2.50
    output_per_1m = 10.00
    cached_input_per_1m = 1.25   # optional; cached prompt tokens, defaults to the input price

A model missing from both has no price (``None``): its cost is reported as 0 and ``max_cost`` cannot be
enforced for it.

>>> price = price_for("gpt-4o")
>>> price.cost(tokens_in=1_000, tokens_out=10)   # 1000 * 2.50e-6 + 10 * 10.00e-6
0.0026
>>> price_for("my-local-model") is None
True
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actbench.errors import ActbenchError

SCHEMA_VERSION = 1


class Price(BaseModel):
    """USD per 1M tokens for one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(ge=0)
    cached_input_per_1m: float | None = Field(default=None, ge=0)

    def cost(self, tokens_in: int, tokens_out: int, cached_in: int = 0) -> float:
        """Dollars for one request; ``cached_in`` is the part of ``tokens_in`` billed at the cached rate."""
        cached_in = min(max(cached_in, 0), tokens_in)
        cached_rate = self.input_per_1m if self.cached_input_per_1m is None else self.cached_input_per_1m
        micro = ((tokens_in - cached_in) * self.input_per_1m + cached_in * cached_rate
                 + tokens_out * self.output_per_1m)
        return round(micro / 1e6, 12)  # drop float noise such as 0.0026000000000000003


# OpenAI list prices, standard tier (openai.com/api/pricing). "gpt-4o" and "gpt-4o-mini" are aliases of
# the newest snapshot; the first gpt-4o snapshot (May 2024) cost twice as much.
BUILTIN_PRICES: dict[str, Price] = {
    "gpt-4o": Price(input_per_1m=2.50, output_per_1m=10.00, cached_input_per_1m=1.25),
    "gpt-4o-2024-11-20": Price(input_per_1m=2.50, output_per_1m=10.00, cached_input_per_1m=1.25),
    "gpt-4o-2024-08-06": Price(input_per_1m=2.50, output_per_1m=10.00, cached_input_per_1m=1.25),
    "gpt-4o-2024-05-13": Price(input_per_1m=5.00, output_per_1m=15.00),
    "gpt-4o-mini": Price(input_per_1m=0.15, output_per_1m=0.60, cached_input_per_1m=0.075),
    "gpt-4o-mini-2024-07-18": Price(input_per_1m=0.15, output_per_1m=0.60, cached_input_per_1m=0.075),
}


class PriceFile(BaseModel):
    """A user's price file (TOML or JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = SCHEMA_VERSION
    models: dict[str, Price]


def load_price_file(path: str | Path) -> dict[str, Price]:
    """The prices in a TOML (``.toml``) or JSON file; errors name the file and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ActbenchError(f"{path}: cannot read the price file ({error.strerror or error})") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ActbenchError(f"{path}: not valid {kind} ({error})") from None
    try:
        parsed = PriceFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise ActbenchError.bad_value(path, ".".join(map(str, first["loc"])), first["msg"].lower(),
                                      first.get("input")) from None
    if parsed.schema_version != SCHEMA_VERSION:
        raise ActbenchError.bad_value(path, "schema_version", str(SCHEMA_VERSION), parsed.schema_version)
    return dict(parsed.models)


def price_table(override: str | Path | None = None) -> dict[str, Price]:
    """The built-in table, updated with the user's file when given."""
    table = dict(BUILTIN_PRICES)
    if override is not None:
        table.update(load_price_file(override))
    return table


def price_for(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model`` (exact name), or None when the table does not know it."""
    return (BUILTIN_PRICES if table is None else table).get(model)
