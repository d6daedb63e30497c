"""Active health checks: bring a deployment whose breaker is open back as soon as it answers.

Off unless `routing.health_check` is set. Every `interval_seconds`, each deployment whose breaker
is open (cooling down or half-open, past any `Retry-After`, with no request probing it) gets a
one-token completion through its own provider, bounded by `timeout_seconds`. An answer closes
the breaker; so does a 4xx about the probe itself (the upstream is up and answering). A
connection error, timeout, 429 or 5xx leaves the breaker as it was: the cooldown does not grow
because of a probe. Probes are not client requests: they are not in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable

import orjson

from llmrelay.config import HealthCheckConfig
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.request import ChatRequest, parse_chat_request
from llmrelay.providers.base import UpstreamCall, UpstreamError
from llmrelay.routing.catalog import Deployment

log = logging.getLogger("llmrelay.routing")

Probe = Callable[[Deployment], Awaitable[object]]
"""Returns when the deployment answered; raises when it did not."""

PROBE_MESSAGES = [{"role": "user", "content": "ping"}]


async def completion_probe(deployment: Deployment) -> object:
    """A one-token chat completion through the deployment's provider."""
    body = {"model": deployment.model, "messages": PROBE_MESSAGES, "max_tokens": 1}
    request = parse_chat_request(orjson.dumps(body))
    return await deployment.provider.complete(probe_call(deployment, request))


def probe_call(deployment: Deployment, request: ChatRequest) -> UpstreamCall:
    """The upstream call of a probe: the deployment's own model name and timeouts."""
    return UpstreamCall(
        request,
        deployment.upstream_model,
        "probe_" + secrets.token_hex(12),
        model=deployment.config,
        timeouts=deployment.timeouts,
    )


def answered(error: BaseException) -> bool:
    """The upstream is up, even though it refused the probe (a parameter it rejects, say)."""
    if not isinstance(error, RelayError) or error.status == 429 or error.status >= 500:
        return False
    return not isinstance(error, UpstreamError) or error.upstream_status is not None


class HealthChecker:
    """Probes open breakers on a timer; `check` is one round, for the timer and for tests."""

    def __init__(self, config: HealthCheckConfig, probe: Probe = completion_probe) -> None:
        self.config = config
        self.probe = probe
        self._task: asyncio.Task[None] | None = None

    async def check(self, deployments: list[Deployment]) -> list[Deployment]:
        """Probe every deployment due for it, at once; those brought back."""
        due = [d for d in deployments if d.breaker.probe_due()]
        results = await asyncio.gather(*(self._probe(d) for d in due))
        return [d for d, healthy in zip(due, results, strict=True) if healthy]

    async def _probe(self, deployment: Deployment) -> bool:
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                await self.probe(deployment)
        except Exception as error:  # any failure only means "not yet"
            if not answered(error):
                log.debug(
                    "probe of %s via %s failed: %r",
                    deployment.model,
                    deployment.provider.name,
                    error,
                )
                return False
        if not deployment.breaker.probe_due():
            return False  # a request probed it meanwhile: its outcome stands
        deployment.breaker.succeeded()
        log.info("%s via %s is back (health check)", deployment.model, deployment.provider.name)
        return True

    def start(self, deployments: list[Deployment]) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(deployments), name="health-checks")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, deployments: list[Deployment]) -> None:
        while True:
            await asyncio.sleep(self.config.interval_seconds)
            try:
                await self.check(deployments)
            except Exception:  # one bad round must not end the checks
                log.exception("health check round failed")
