"""The circuit breaker, on an injected clock (no sleeps)."""

from __future__ import annotations

from llmrelay.config import BreakerConfig
from llmrelay.routing.health import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock) -> CircuitBreaker:
    config = BreakerConfig(
        failures=3, window_seconds=30, cooldown_seconds=5, max_cooldown_seconds=12
    )
    return CircuitBreaker(config, clock)


def test_failures_within_the_window_open_it() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed()
    b.failed()
    assert b.state == "healthy" and b.available()
    b.failed()
    assert b.state == "cooldown" and not b.available()
    assert b.cooldown_remaining() == 5


def test_failures_spread_beyond_the_window_do_not() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
        clock.now += 20
    assert b.state == "healthy"


def test_half_open_lets_one_probe_through_and_success_closes() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 5
    assert b.state == "half_open" and b.available()
    b.begin()
    assert not b.available(), "only one probe at a time"
    b.succeeded()
    assert b.state == "healthy" and b.available()


def test_failed_probe_doubles_the_cooldown_up_to_the_cap() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    cooldowns = []
    for _ in range(3):
        clock.now += b.cooldown_remaining()
        b.begin()
        b.failed()
        cooldowns.append(b.cooldown_remaining())
    assert cooldowns == [10, 12, 12]


def test_retry_after_rests_it_at_least_that_long() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed(retry_after=7)
    assert b.state == "cooldown" and b.cooldown_remaining() == 7
    clock.now += 7
    assert b.available()


def test_an_abandoned_probe_frees_the_slot() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(3):
        b.failed()
    clock.now += 5
    b.begin()
    b.abandoned()
    assert b.available()
