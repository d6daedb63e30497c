"""Active health checks, driven directly on an injected clock (no sleeps)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmrelay.config import BreakerConfig, HealthCheckConfig, ModelConfig, RoutingConfig
from llmrelay.protocol.errors import invalid_request
from llmrelay.providers.base import UpstreamCall, UpstreamError, upstream_unreachable
from llmrelay.routing.catalog import Deployment
from llmrelay.routing.health import CircuitBreaker
from llmrelay.routing.probes import HealthChecker, completion_probe
from llmrelay.routing.router import Router
from tests.routing.test_health import Clock

CONFIG = HealthCheckConfig(interval_seconds=10, timeout_seconds=1)


class FakeProvider:
    def __init__(self, name: str, outcome: Any = None) -> None:
        self.name = name
        self.outcome = outcome
        self.calls: list[UpstreamCall] = []

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        self.calls.append(call)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        if self.outcome == "hang":
            await asyncio.Event().wait()
        return {"choices": []}


def deployment(clock: Clock, outcome: Any = None, name: str = "a") -> Deployment:
    breaker = CircuitBreaker(BreakerConfig(failures=1, cooldown_seconds=60), clock)
    provider = FakeProvider(name, outcome)
    return Deployment("m", ModelConfig(provider=name), provider, f"up-{name}", 1, 0, None, breaker)


def opened(d: Deployment, retry_after: float | None = None) -> Deployment:
    d.breaker.failed(retry_after)
    assert d.breaker.state == "cooldown"
    return d


async def test_a_probe_that_answers_closes_an_open_breaker_before_its_cooldown_ends() -> None:
    clock = Clock()
    d = opened(deployment(clock))
    assert await HealthChecker(CONFIG).check([d]) == [d]
    assert d.breaker.state == "healthy" and d.breaker.available()
    call = d.provider.calls[-1]
    assert call.upstream_model == "up-a" and call.request.max_tokens == 1
    assert call.request.messages and call.request_id.startswith("probe_")


async def test_healthy_deployments_are_not_probed() -> None:
    clock = Clock()
    d = deployment(clock)
    assert await HealthChecker(CONFIG).check([d]) == []
    assert d.provider.calls == []


@pytest.mark.parametrize(
    "outcome",
    [
        upstream_unreachable("a", "connection refused"),
        UpstreamError(503, "overloaded", upstream_status=503),
        UpstreamError(429, "slow down", upstream_status=429),
        "hang",
    ],
    ids=["refused", "503", "429", "timeout"],
)
async def test_a_failed_probe_leaves_the_breaker_as_it_was(outcome: Any) -> None:
    clock = Clock()
    d = opened(deployment(clock, outcome))
    remaining = d.breaker.cooldown_remaining()
    checker = HealthChecker(HealthCheckConfig(interval_seconds=10, timeout_seconds=0.01))
    assert await checker.check([d]) == []
    assert d.breaker.state == "cooldown"
    assert d.breaker.cooldown_remaining() == remaining, "a probe never lengthens the cooldown"


async def test_an_upstream_that_refuses_the_probe_itself_is_up() -> None:
    clock = Clock()
    refusal = UpstreamError(400, "Unsupported parameter: 'max_tokens'", upstream_status=400)
    answered = opened(deployment(clock, refusal))
    local = opened(deployment(clock, invalid_request("bad"), name="b"))
    assert await HealthChecker(CONFIG).check([answered, local]) == [answered, local]


async def test_retry_after_is_honoured_before_any_probe() -> None:
    clock = Clock()
    d = opened(deployment(clock), retry_after=120)
    checker = HealthChecker(CONFIG)
    assert await checker.check([d]) == []
    clock.now += 119
    assert await checker.check([d]) == []
    assert d.provider.calls == []
    clock.now += 2
    assert await checker.check([d]) == [d]


async def test_a_half_open_deployment_probed_by_a_request_is_left_alone() -> None:
    clock = Clock()
    d = opened(deployment(clock))
    clock.now += 61
    assert d.breaker.state == "half_open"
    d.breaker.begin()  # a client request is the probe
    assert await HealthChecker(CONFIG).check([d]) == []
    assert d.provider.calls == []


async def test_the_router_runs_rounds_until_stopped() -> None:
    clock = Clock()
    d = opened(deployment(clock))
    config = RoutingConfig(health_check=HealthCheckConfig(interval_seconds=0, timeout_seconds=1))
    router = Router(config)
    assert router.health is not None
    done = asyncio.Event()
    probe = router.health.probe

    async def counted(target: Deployment) -> object:
        result = await probe(target)
        done.set()
        return result

    router.health.probe = counted
    router.start([d])
    await asyncio.wait_for(done.wait(), 5)
    await router.stop()
    assert d.breaker.state == "healthy"
    assert router.health._task is None


async def test_no_health_checks_unless_configured() -> None:
    router = Router(RoutingConfig())
    assert router.health is None
    router.start([])
    await router.stop()


async def test_completion_probe_uses_the_deployments_own_timeouts() -> None:
    clock = Clock()
    d = deployment(clock)
    await completion_probe(d)
    assert d.provider.calls[-1].timeouts is None and d.provider.calls[-1].model is d.config
