"""What a request costs: token counts times the model's price.

Money inside the relay is counted in integer nano-dollars (1e-9 USD), so that budgets add
and compare exactly however many small requests they sum, in Python and in Redis alike.
"""

from __future__ import annotations

from llmrelay.config import Price
from llmrelay.protocol.usage import Usage

NANO_PER_USD = 1_000_000_000
NANO_PER_TOKEN_AT_ONE_USD_PER_MILLION = NANO_PER_USD // 1_000_000


def nano_to_usd(nano: int) -> float:
    return round(nano / NANO_PER_USD, 9)


def usd_to_nano(usd: float) -> int:
    return round(usd * NANO_PER_USD)


def _tokens_cost(tokens: int, usd_per_million: float) -> float:
    return tokens * usd_per_million * NANO_PER_TOKEN_AT_ONE_USD_PER_MILLION


def cost_nano(price: Price | None, usage: Usage | None) -> int:
    """The cost of `usage` at `price`, rounded up to the next nano-dollar."""
    if price is None or usage is None:
        return 0
    cached = usage.cached_tokens or 0
    written = usage.cache_write_tokens or 0
    fresh = max(usage.prompt_tokens - cached - written, 0)
    total = (
        _tokens_cost(fresh, price.input)
        + _tokens_cost(cached, price.cached_input_rate)
        + _tokens_cost(written, price.cache_write_rate)
        + _tokens_cost(usage.completion_tokens, price.output)
    )
    return -int(-total // 1)  # ceil without float surprises for whole numbers


def worst_case_nano(price: Price | None, prompt_tokens: int, max_output_tokens: int) -> int:
    """The most a request can cost: every prompt token uncached, every output token used."""
    if price is None:
        return 0
    input_price = max(price.input, price.cached_input_rate, price.cache_write_rate)
    total = _tokens_cost(prompt_tokens, input_price) + _tokens_cost(max_output_tokens, price.output)
    return -int(-total // 1)
