"""The price table: what a turn's usage costs in credits (ARCHITECTURE §5b).

    credits = ceil((Σ tokens × provider list price + compute seconds × machine $/s) × markup ÷ $0.01)

Defaults below; `BILLING_PRICE_TABLE` (JSON with any of `markup`, `machine_usd_per_second`,
`default`, `models`) overrides them. Decimal arithmetic, so a price never drifts by float rounding.
"""

import functools
import json
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from shared.models import Model

USD_PER_CREDIT = Decimal("0.01")
_MILLION = Decimal(1_000_000)


class ModelPrice(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)
    input: Decimal = Field(ge=0, description="USD per million input tokens")
    output: Decimal = Field(ge=0, description="USD per million output tokens")


# Provider list prices (USD per million tokens) for models agents commonly use.
DEFAULT_MODELS: dict[str, ModelPrice] = {
    "gpt-4o": ModelPrice(input=Decimal("2.50"), output=Decimal("10")),
    "gpt-4o-mini": ModelPrice(input=Decimal("0.15"), output=Decimal("0.60")),
    "gpt-4.1": ModelPrice(input=Decimal("2"), output=Decimal("8")),
    "gpt-4.1-mini": ModelPrice(input=Decimal("0.40"), output=Decimal("1.60")),
    "claude-sonnet-4-5": ModelPrice(input=Decimal("3"), output=Decimal("15")),
    "claude-haiku-4-5": ModelPrice(input=Decimal("1"), output=Decimal("5")),
    "claude-opus-4-1": ModelPrice(input=Decimal("15"), output=Decimal("75")),
    "gemini-2.5-flash": ModelPrice(input=Decimal("0.30"), output=Decimal("2.50")),
    "gemini-2.5-pro": ModelPrice(input=Decimal("1.25"), output=Decimal("10")),
}


class PriceTable(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)
    markup: Decimal = Field(default=Decimal("1.3"), ge=1)
    # A shared-cpu Fly machine with 2 GB (the default size), per second.
    machine_usd_per_second: Decimal = Field(default=Decimal("0.0000044"), ge=0)
    # Unknown models are priced like a frontier model rather than for free.
    default: ModelPrice = ModelPrice(input=Decimal("3"), output=Decimal("15"))
    models: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_MODELS))

    def price_of(self, model: str) -> ModelPrice:
        """Exact name, else the name after a provider prefix (`anthropic/claude-…`), else the default."""
        return self.models.get(model) or self.models.get(model.rsplit("/", 1)[-1]) or self.default

    def usage_usd(self, model: str, input_tokens: int, output_tokens: int, compute_seconds: Decimal | float) -> Decimal:
        p = self.price_of(model)
        tokens = (Decimal(input_tokens) * p.input + Decimal(output_tokens) * p.output) / _MILLION
        return tokens + Decimal(str(compute_seconds)) * self.machine_usd_per_second

    def credits_for_usd(self, usd: Decimal) -> int:
        if usd <= 0:
            return 0
        return math.ceil(usd * self.markup / USD_PER_CREDIT)

    def metered_credits(self, usage: Iterable[dict[str, Any]]) -> int:
        """Rows of `{model, input_tokens, output_tokens, compute_seconds}` (a turn's usage) → credits."""
        usd = sum((self.usage_usd(r["model"], int(r["input_tokens"]), int(r["output_tokens"]),
                                  r["compute_seconds"]) for r in usage), Decimal(0))
        return self.credits_for_usd(usd)

    def sql_params(self) -> dict[str, Any]:
        """The table as parameters of the hourly aggregation query (the same prices, priced in SQL)."""
        return {
            "models": json.dumps({k: {"input": str(v.input), "output": str(v.output)} for k, v in self.models.items()}),
            "default_input": self.default.input,
            "default_output": self.default.output,
            "machine_usd_per_second": self.machine_usd_per_second,
            "markup": self.markup,
        }


def estimate_tokens(text: str) -> int:
    """A lower-bound token count for text nobody reported usage for (about four UTF-8 bytes a token)."""
    return math.ceil(len(text.encode("utf-8")) / 4)


@functools.cache
def _parse(raw: str | None) -> PriceTable:
    if not raw:
        return PriceTable()
    data = json.loads(raw)
    if isinstance(data, dict) and "models" in data:
        # Listed models add to (or replace) the defaults instead of dropping the rest.
        data = {**data, "models": {**{k: v.model_dump() for k, v in DEFAULT_MODELS.items()}, **data["models"]}}
    return PriceTable.model_validate(data)


def price_table() -> PriceTable:
    from shared.config import get_settings

    return _parse(get_settings().BILLING_PRICE_TABLE)
