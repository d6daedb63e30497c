"""Choosing a deployment, and moving on to another when one fails before the first byte.

Order: weighted random among the available deployments of the best priority tier; then the
next tier; then the model's `fallbacks`, in order. A deployment is tried at most once per
request, attempts stop at `routing.max_attempts`, and attempts are spaced by a jittered
exponential backoff. Only retryable failures move on (connection refused, timeouts, 429, 5xx,
as `routing.retry_on` says); a client's mistake (400 and the like) is answered at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from llmrelay.config import RoutingConfig
from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import UpstreamError
from llmrelay.routing.catalog import Deployment, ModelEntry

log = logging.getLogger("llmrelay.routing")

T = TypeVar("T")


def failure_kind(error: UpstreamError) -> str | None:
    """`connect`, `timeout`, `429` or `5xx`; None for failures no retry can mend."""
    if error.code == "upstream_unreachable":
        return "connect"
    if error.code == "upstream_timeout" or error.status == 504:
        return "timeout"
    if error.status == 429:
        return None if error.code == "insufficient_quota" else "429"
    if error.status >= 500 and error.code != "upstream_auth_error":
        return "5xx"
    return None


def resting_error(entry: ModelEntry) -> RelayError:
    """Every deployment rests: answer as the one back soonest last failed (an upstream 429
    stays a 429), with `Retry-After` set to when it is back."""
    soonest = min(entry.deployments, key=lambda d: d.breaker.cooldown_remaining())
    remaining = max(1.0, soonest.breaker.cooldown_remaining())
    cause = soonest.breaker.last_error
    if isinstance(cause, UpstreamError):
        return UpstreamError(
            cause.status,
            cause.message,
            type=cause.type,
            param=cause.param,
            code=cause.code,
            retry_after=remaining,
            upstream_status=cause.upstream_status,
        )
    return RelayError(
        503,
        f"Every deployment of `{entry.name}` is resting after failures. Retry shortly.",
        type="server_error",
        code="deployments_unavailable",
        retry_after=remaining,
    )


def pick(entry: ModelEntry, tried: set[int], rng: random.Random) -> Deployment | None:
    """A deployment not tried yet: weighted random in the best tier that has one available."""
    candidates = [d for d in entry.deployments if id(d) not in tried and d.breaker.available()]
    if not candidates:
        return None
    best = min(d.priority for d in candidates)
    tier = [d for d in candidates if d.priority == best]
    return rng.choices(tier, weights=[d.weight for d in tier])[0]


class Router:
    def __init__(self, config: RoutingConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()

    def _backoff(self, attempt: int) -> float:
        base = self.config.backoff_seconds * 2 ** (attempt - 1)
        return self.rng.uniform(0, min(base, 2.0))

    async def run(
        self,
        entry: ModelEntry,
        attempt: Callable[[Deployment], Awaitable[T]],
        on_try: Callable[[Deployment], None] | None = None,
    ) -> T:
        """Call `attempt` on deployments in routing order until one succeeds."""
        tried: set[int] = set()
        attempts = 0
        last: RelayError | None = None
        for model in (entry, *entry.fallbacks):
            while attempts < self.config.max_attempts:
                deployment = pick(model, tried, self.rng)
                if deployment is None:
                    break
                if attempts:
                    await asyncio.sleep(self._backoff(attempts))
                tried.add(id(deployment))
                attempts += 1
                if on_try is not None:
                    on_try(deployment)
                try:
                    return await self._try(deployment, attempt)
                except _Retryable as retryable:
                    last = retryable.error
        if last is not None:
            raise last
        raise resting_error(entry)

    async def _try(
        self, deployment: Deployment, attempt: Callable[[Deployment], Awaitable[T]]
    ) -> T:
        deployment.breaker.begin()
        try:
            result = await attempt(deployment)
        except UpstreamError as error:
            kind = failure_kind(error)
            if kind is None:
                deployment.breaker.succeeded()  # it answered: the request was the problem
                raise
            if error.health_failure:
                retry_after = error.retry_after if kind == "429" else None
                deployment.breaker.failed(retry_after, error)
            else:
                deployment.breaker.abandoned()
            log.warning(
                "%s via %s failed (%s): %s",
                deployment.model,
                deployment.provider.name,
                kind,
                error.message,
            )
            if kind in self.config.retry_on:
                raise _Retryable(error) from None
            raise
        except BaseException:
            deployment.breaker.abandoned()  # cancelled (the client left) or a client mistake
            raise
        deployment.breaker.succeeded()
        return result


class _Retryable(Exception):
    """A failure that moves the request on to the next deployment."""

    def __init__(self, error: UpstreamError) -> None:
        self.error = error
