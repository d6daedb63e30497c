"""What a request costs: fresh, cached and cache-written input, and output (with reasoning)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmrelay.config import Price
from llmrelay.gate.periods import period_bounds
from llmrelay.metering.prices import cost_nano, nano_to_usd
from llmrelay.protocol.usage import Usage


def test_prompt_and_completion_at_their_prices() -> None:
    price = Price(input=2.5, output=10.0)
    usage = Usage(prompt_tokens=1000, completion_tokens=500, reasoning_tokens=200)
    assert nano_to_usd(cost_nano(price, usage)) == pytest.approx(0.0025 + 0.005)


def test_cached_and_cache_write_tokens_have_their_own_prices() -> None:
    price = Price(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)
    usage = Usage(1000, 0, cached_tokens=600, cache_write_tokens=300)
    expected = (100 * 3.0 + 600 * 0.3 + 300 * 3.75) / 1e6
    assert nano_to_usd(cost_nano(price, usage)) == pytest.approx(expected)


def test_unpriced_cache_parts_cost_the_input_price() -> None:
    usage = Usage(1000, 0, cached_tokens=600, cache_write_tokens=300)
    assert cost_nano(Price(input=1.0), usage) == cost_nano(Price(input=1.0), Usage(1000, 0))


def test_no_price_costs_nothing() -> None:
    assert cost_nano(None, Usage(10**6, 10**6)) == 0


def test_usage_reads_cache_writes_from_openai_shape() -> None:
    usage = Usage.from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 3},
        }
    )
    assert usage is not None and (usage.cached_tokens, usage.cache_write_tokens) == (4, 3)
    assert usage.to_openai()["prompt_tokens_details"] == {
        "cached_tokens": 4,
        "cache_write_tokens": 3,
    }


def test_period_bounds() -> None:
    now = datetime(2026, 2, 11, 15, 30, tzinfo=UTC).timestamp()
    day = (datetime(2026, 2, 11, tzinfo=UTC), datetime(2026, 2, 12, tzinfo=UTC))
    week = (datetime(2026, 2, 9, tzinfo=UTC), datetime(2026, 2, 16, tzinfo=UTC))
    month = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    for period, (start, end) in (("daily", day), ("weekly", week), ("monthly", month)):
        assert period_bounds(period, now) == (start.timestamp(), end.timestamp())
    assert period_bounds("total", now) == (0.0, None)


def test_upstream_counts_out_of_range_are_clamped() -> None:
    usage = Usage.from_openai(
        {
            "prompt_tokens": 2**63 + 5,
            "completion_tokens": -5_000_000,
            "prompt_tokens_details": {"cached_tokens": -1},
            "completion_tokens_details": {"reasoning_tokens": True},
        }
    )
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (2**31 - 1, 0)
    assert usage.cached_tokens == 0 and usage.reasoning_tokens is None
    assert cost_nano(Price(input=1.0, output=1.0), usage) >= 0
