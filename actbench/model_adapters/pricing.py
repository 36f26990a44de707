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
enforced for it. :class:`CostBudget` enforces ``max_cost`` over concurrent requests.

>>> price = price_for("gpt-4o")
>>> price.cost(tokens_in=1_000, tokens_out=10)   # 1000 * 2.50e-6 + 10 * 10.00e-6
0.0026
>>> price_for("my-local-model") is None
True
"""

from __future__ import annotations

import asyncio
import json
import math
import tomllib
from pathlib import Path
from typing import Mapping, Sequence

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


# Before any usage is known, a request's input is bounded by its UTF-8 bytes (every token covers at least
# one byte) and each image by GPT-4o's tile formula times 34 (gpt-4o-mini bills images at ~33x the tokens).
_IMAGE_TOKEN_SAFETY = 34
_INPUT_MARGIN = 1.25  # once usage is known: the largest input seen so far, plus 25%


def image_tokens(width: int, height: int, detail: str) -> int:
    """GPT-4o's tokens for one image: 85 at low detail, else 85 + 170 per 512-px tile after OpenAI's
    resizing (to fit 2048 x 2048, then the short side to 768).

    >>> image_tokens(1024, 1024, "high"), image_tokens(2048, 4096, "high"), image_tokens(1920, 1080, "low")
    (765, 1105, 85)
    """
    if detail == "low":
        return 85
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


class CostBudget:
    """Never lets concurrent requests spend more than ``max_cost`` dollars (None: no limit).

    A request is admitted when the spent cost, the reservations of the requests in flight and its own
    estimate (input as above, output at ``max_output_tokens``) fit under the limit; it waits while
    requests in flight may still release enough; when nothing is in flight and it still does not fit,
    the budget is exhausted for good. The first request goes alone: its usage calibrates the estimates.

    >>> budget = CostBudget(0.0025, Price(input_per_1m=1.0, output_per_1m=1.0), max_output_tokens=10)
    >>> async def one():
    ...     reserved = await budget.admit(prompt_bytes=400, image_sizes=[])
    ...     if reserved is not None:
    ...         await budget.settle(reserved, cost=0.001001, tokens_in=1000)
    ...     return reserved is not None
    >>> [asyncio.run(one()) for _ in range(4)], round(budget.spent, 6), budget.exhausted
    ([True, True, False, False], 0.002002, True)
    """

    def __init__(self, max_cost: float | None, price: Price | None, *, max_output_tokens: int,
                 detail: str = "auto"):
        if max_cost is not None and price is None:
            raise ValueError("a budget needs a price")
        self.max_cost = max_cost
        self.price = price
        self.max_output_tokens = max_output_tokens
        self.detail = detail
        self.spent = 0.0  # a resumed run may preload what it already spent
        self.exhausted = False
        self.reserved = 0.0
        self.in_flight = 0
        self.max_tokens_in = 0  # the largest input seen; 0 until the first usage comes back
        self._condition: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def estimate(self, prompt_bytes: int, image_sizes: Sequence[tuple[int, int]]) -> float:
        if self.max_tokens_in:
            tokens_in = math.ceil(_INPUT_MARGIN * self.max_tokens_in)
        else:
            tokens_in = prompt_bytes + 16 + _IMAGE_TOKEN_SAFETY * sum(
                image_tokens(w, h, self.detail) for w, h in image_sizes)
        return self.price.cost(tokens_in, self.max_output_tokens)

    def _condition_here(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._condition is None or self._loop is not loop:
            self._condition, self._loop = asyncio.Condition(), loop
        return self._condition

    async def admit(self, prompt_bytes: int, image_sizes: Sequence[tuple[int, int]]) -> float | None:
        """The amount reserved for this request, or None when the budget is spent."""
        if self.max_cost is None:
            return 0.0
        condition = self._condition_here()
        async with condition:
            while not self.exhausted:
                if self.in_flight == 0 or self.max_tokens_in:
                    estimate = self.estimate(prompt_bytes, image_sizes)
                    if self.spent + self.reserved + estimate <= self.max_cost:
                        self.reserved += estimate
                        self.in_flight += 1
                        return estimate
                    if self.in_flight == 0:
                        self.exhausted = True
                        condition.notify_all()
                        break
                await condition.wait()
        return None

    async def settle(self, reserved: float, cost: float, tokens_in: int) -> None:
        """Record an admitted request's actual cost (0 when it failed) and release its reservation."""
        self.spent += cost
        if self.max_cost is None:
            return
        condition = self._condition_here()
        async with condition:
            self.reserved -= reserved
            self.in_flight -= 1
            self.max_tokens_in = max(self.max_tokens_in, tokens_in)
            condition.notify_all()
