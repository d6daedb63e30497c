"""Deployment choice and failover, with fake providers (no network)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from llmrelay.config import BreakerConfig, ModelConfig, RoutingConfig
from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import UpstreamError
from llmrelay.routing.catalog import Deployment, ModelEntry
from llmrelay.routing.health import CircuitBreaker
from llmrelay.routing.router import Router, pick


class FakeProvider:
    def __init__(self, name: str) -> None:
        self.name = name


def deployment(name: str, weight: float = 1, priority: int = 0) -> Deployment:
    return Deployment(
        "m",
        ModelConfig(provider=name),
        FakeProvider(name),
        name,
        weight,
        priority,
        None,
        CircuitBreaker(BreakerConfig()),
    )


def entry(*deployments: Deployment, fallbacks: list[ModelEntry] | None = None) -> ModelEntry:
    return ModelEntry("m", list(deployments), ModelConfig(provider="x"), "x", 0, fallbacks or [])


def test_weights_within_the_best_tier() -> None:
    model = entry(deployment("a", 3), deployment("b", 1), deployment("c", 5, priority=1))
    rng = random.Random(7)
    counts = Counter(pick(model, set(), rng).provider.name for _ in range(4000))
    assert counts["c"] == 0
    assert 0.72 < counts["a"] / 4000 < 0.78


async def test_failover_tries_each_deployment_once_then_the_next_tier_then_fallbacks() -> None:
    backup = entry(deployment("fallback"))
    model = entry(deployment("a"), deployment("b"), deployment("c", priority=1), fallbacks=[backup])
    router = Router(RoutingConfig(max_attempts=10, backoff_seconds=0))
    seen: list[str] = []

    async def attempt(d: Deployment) -> str:
        seen.append(d.provider.name)
        if d.provider.name != "fallback":
            raise UpstreamError(502, "down")
        return "answer"

    assert await router.run(model, attempt) == "answer"
    assert sorted(seen[:2]) == ["a", "b"] and seen[2:] == ["c", "fallback"]


async def test_a_client_error_is_not_retried() -> None:
    model = entry(deployment("a"), deployment("b"))
    router = Router(RoutingConfig(backoff_seconds=0))
    seen: list[str] = []

    async def attempt(d: Deployment) -> str:
        seen.append(d.provider.name)
        raise UpstreamError(400, "bad request", type="invalid_request_error")

    with pytest.raises(UpstreamError) as caught:
        await router.run(model, attempt)
    assert caught.value.status == 400 and len(seen) == 1


async def test_attempts_stop_at_the_budget() -> None:
    model = entry(*(deployment(str(i)) for i in range(6)))
    router = Router(RoutingConfig(max_attempts=2, backoff_seconds=0))
    seen: list[str] = []

    async def attempt(d: Deployment) -> str:
        seen.append(d.provider.name)
        raise UpstreamError(503, "overloaded")

    with pytest.raises(UpstreamError):
        await router.run(model, attempt)
    assert len(seen) == 2


async def test_every_deployment_resting_answers_with_the_last_cause() -> None:
    only = deployment("a")
    model = entry(only)
    router = Router(RoutingConfig(backoff_seconds=0))

    async def rate_limited(d: Deployment) -> str:
        raise UpstreamError(429, "slow down", code="rate_limit_exceeded", retry_after=30)

    with pytest.raises(UpstreamError):
        await router.run(model, rate_limited)
    with pytest.raises(RelayError) as caught:
        await router.run(model, rate_limited)
    assert caught.value.status == 429 and caught.value.retry_after >= 29
