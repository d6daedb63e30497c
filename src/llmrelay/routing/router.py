"""Choosing a deployment, and moving on to another when one fails before the first byte.

Order: weighted random among the available deployments of the best priority tier; then the
next tier; then the model's `fallbacks`, in order. A deployment is tried at most once per
request, attempts stop at `routing.max_attempts`, and attempts are spaced by a jittered
exponential backoff. Only retryable failures move on (connection refused, timeouts, 429, 5xx,
as `routing.retry_on` says); a client's mistake (400 and the like) is answered at once, unless
it is a refusal the model has fallbacks for (context length, content filter: fallbacks.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from llmrelay.config import RoutingConfig
from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import UpstreamError
from llmrelay.providers.upstream_errors import RefusalKind, error_refusal
from llmrelay.routing import events
from llmrelay.routing.catalog import Deployment, ModelEntry
from llmrelay.routing.fallbacks import FallbackWalk, refused_answer
from llmrelay.routing.probes import HealthChecker

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
    if len(entry.deployments) == 1:  # the common case, on every request: no lists, no dice
        only = entry.deployments[0]
        return only if id(only) not in tried and only.breaker.available() else None
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
        check = config.health_check
        self.health = HealthChecker(check) if check is not None else None

    def start(self, deployments: list[Deployment]) -> None:
        """Start the active health checks, when configured (in the app's lifespan)."""
        if self.health is not None:
            self.health.start(deployments)

    async def stop(self) -> None:
        if self.health is not None:
            await self.health.stop()

    def _backoff(self, attempt: int) -> float:
        base = self.config.backoff_seconds * 2 ** (attempt - 1)
        return self.rng.uniform(0, min(base, 2.0))

    async def run(
        self,
        entry: ModelEntry,
        attempt: Callable[[Deployment], Awaitable[T]],
        on_try: Callable[[Deployment], None] | None = None,
        waited: Callable[[float], None] | None = None,
    ) -> T:
        """Call `attempt` on deployments in routing order until one succeeds; `waited` is
        told the seconds each attempt took (the time spent on upstreams, for the relay's
        own added latency: observe/metrics.py)."""
        request = _Request(FallbackWalk(entry), self.config.max_attempts)
        while (model := request.walk.next_model()) is not None:
            if model is not entry:
                events.fell_back(entry.name, model.name, request.reason)
            while request.attempts_left:
                deployment = pick(model, request.tried, self.rng)
                if deployment is None:
                    break
                if request.attempts:
                    events.retried(deployment)
                    await asyncio.sleep(self._backoff(request.attempts))
                request.tried.add(id(deployment))
                request.attempts += 1
                if on_try is not None:
                    on_try(deployment)
                try:
                    return await self._try(deployment, attempt, request, waited)
                except _Retryable as retryable:
                    request.last = retryable.error
                except _Diverted as diverted:
                    request.last = diverted.error
                    break  # this model refused the request: on to the refusal's fallbacks
        if request.last is not None:
            raise request.last
        raise resting_error(entry)

    async def _try(
        self,
        deployment: Deployment,
        attempt: Callable[[Deployment], Awaitable[T]],
        request: _Request,
        waited: Callable[[float], None] | None,
    ) -> T:
        deployment.breaker.begin()
        started = time.perf_counter()
        try:
            result = await attempt(deployment)
        except UpstreamError as error:
            self._upstream_failed(deployment, error, request)
        except RelayError as error:  # the local model refusing, say
            deployment.breaker.abandoned()
            events.attempt_failed(deployment, "rejected")
            request.divert(deployment, error_refusal(error), error)
            raise
        except BaseException:
            deployment.breaker.abandoned()  # cancelled (the client left) or a client mistake
            raise
        finally:
            if waited is not None:
                waited(time.perf_counter() - started)
        deployment.breaker.succeeded()
        await self._check_answer(deployment, result, request)
        return result

    def _upstream_failed(
        self, deployment: Deployment, error: UpstreamError, request: _Request
    ) -> NoReturn:
        kind = failure_kind(error)
        events.attempt_failed(deployment, kind or "rejected")
        if kind is None:
            deployment.breaker.succeeded()  # it answered: the request was the problem
            request.divert(deployment, error_refusal(error), error)
            raise error
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
        raise error

    async def _check_answer(
        self, deployment: Deployment, result: object, request: _Request
    ) -> None:
        """A 200 that is only a content filter's refusal moves on when the model has
        `content_filter` fallbacks (the refused answer is let go)."""
        kind = refused_answer(result)
        if kind is None or not request.may_divert(kind):
            return
        aclose = getattr(result, "aclose", None)
        if aclose is not None:
            await aclose()
        error = UpstreamError(
            400,
            f"The upstream provider '{deployment.provider.name}' filtered the answer.",
            type="invalid_request_error",
            code="content_filter",
        )
        request.divert(deployment, kind, error)


class _Request:
    """Where one request stands: deployments tried, attempts made, models left."""

    def __init__(self, walk: FallbackWalk, max_attempts: int) -> None:
        self.walk = walk
        self.max_attempts = max_attempts
        self.tried: set[int] = set()
        self.attempts = 0
        self.last: RelayError | None = None
        self.reason = "failure"
        """Why the request leaves for a fallback model: `failure`, or a refusal's kind."""

    @property
    def attempts_left(self) -> bool:
        return self.attempts < self.max_attempts

    def may_divert(self, kind: RefusalKind) -> bool:
        return self.attempts_left and bool(self.walk.targets(kind))

    def divert(self, deployment: Deployment, kind: RefusalKind | None, error: RelayError) -> None:
        """Raise `_Diverted` when the refusal has somewhere to go; else return."""
        if kind is None or not self.attempts_left or not self.walk.divert(kind):
            return
        log.info(
            "%s via %s refused (%s): falling back", deployment.model, deployment.provider.name, kind
        )
        self.reason = kind
        raise _Diverted(error) from None


class _Retryable(Exception):
    """A failure that moves the request on to the next deployment."""

    def __init__(self, error: UpstreamError) -> None:
        self.error = error


class _Diverted(Exception):
    """A refusal that moves the request on to the refusal's fallback models."""

    def __init__(self, error: RelayError) -> None:
        self.error = error
