"""Estimated cost of a run, from the reported usage and list prices kept here as data.

ESTIMATES ONLY: Model Studio bills what its own meter says, prices change, and the tier is chosen by
each request's input length. Image and video tokens are billed as input tokens; reasoning tokens
as output tokens. The Batch API bills 50% of the real-time price for successful requests only
(Model Studio "OpenAI compatible - Batch" page). Update `PRICES` when the price page changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog import get_spec

__all__ = ["BATCH_API_DISCOUNT", "PRICES", "PRICES_NOTE", "CostEstimate", "CostMeter", "Price", "price_for"]

BATCH_API_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """Per million tokens, for requests with at most `up_to_input` input tokens (None: any)."""

    currency: str
    input: float
    output: float
    up_to_input: int | None = None


_CNY, _USD = "CNY", "USD"

PRICES: Mapping[tuple[str, str], tuple[Price, ...]] = {
    # Beijing (cn), CNY: Model Studio model pages (input / output per 1K tokens x 1000), seen 2026-01
    # through a mirror of the console's model list; higher tiers of qwen3-vl-flash not listed there.
    ("cn", "qwen3-vl-plus"): (
        Price(_CNY, 1.0, 10.0, 32_768),
        Price(_CNY, 1.5, 15.0, 131_072),
        Price(_CNY, 3.0, 30.0, None),
    ),
    ("cn", "qwen3-vl-flash"): (Price(_CNY, 0.15, 1.5, None),),
    ("cn", "qwen3-vl-32b-thinking"): (Price(_CNY, 2.0, 20.0, None),),
    # Singapore (intl), USD: first tier (<= 32K input) as recalled from the intl price page, NOT
    # re-checked for this release; used for every request size.
    ("intl", "qwen3-vl-plus"): (Price(_USD, 0.20, 1.60, None),),
    ("intl", "qwen3-vl-flash"): (Price(_USD, 0.05, 0.40, None),),
}
"""(region, model family) → price tiers, lowest tier first."""

PRICES_NOTE = "list prices as of 2026-01 (see qwen_vl_core/batch/pricing.py); an estimate, not a bill"


def price_for(model: str, region: str, input_tokens: int) -> Price | None:
    tiers = PRICES.get((region, get_spec(model, warn=False).family))
    if not tiers:
        return None
    return next((t for t in tiers if t.up_to_input is None or input_tokens <= t.up_to_input), tiers[-1])


@dataclass(frozen=True)
class CostEstimate:
    currency: str
    input: float
    """Everything sent: text, image and video tokens."""
    image: float
    """The image and video share of `input`."""
    reasoning: float
    answer: float
    batch_api: bool

    @property
    def total(self) -> float:
        return self.input + self.reasoning + self.answer


class CostMeter:
    """Adds up the cost of each record's usage (tier by that request's input length)."""

    def __init__(self, model: str, region: str, *, batch_api: bool = False) -> None:
        self.model, self.region, self.batch_api = model, region, batch_api
        self._sums = [0.0, 0.0, 0.0, 0.0]
        self._currency: str | None = None
        self.priced = PRICES.get((region, get_spec(model, warn=False).family)) is not None

    def add(self, usage: Mapping[str, Any] | None) -> None:
        if not usage or not self.priced:
            return
        inputs = int(usage.get("input_tokens") or 0)
        price = price_for(self.model, self.region, inputs)
        if price is None:
            return
        factor = (BATCH_API_DISCOUNT if self.batch_api else 1.0) / 1e6
        media = int(usage.get("image_tokens") or 0) + int(usage.get("video_tokens") or 0)
        output = int(usage.get("output_tokens") or 0)
        reasoning = int(usage.get("reasoning_tokens") or 0)
        self._currency = price.currency
        for k, value in enumerate(
            (inputs * price.input, media * price.input, reasoning * price.output, (output - reasoning) * price.output)
        ):
            self._sums[k] += value * factor

    def estimate(self) -> CostEstimate | None:
        if self._currency is None:
            return None
        inputs, media, reasoning, answer = self._sums
        return CostEstimate(self._currency, inputs, media, reasoning, answer, batch_api=self.batch_api)
