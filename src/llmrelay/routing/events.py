"""What routing tells the rest of the process: a failed attempt, a retry, a fallback, a
deployment cooling down.

Routing says each once, here: the warning line is logged here, and whoever listens (the
Prometheus metrics, observe/metrics.py) is told. Nothing here runs on a request that goes
well: every event is a failure or what follows one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmrelay.routing.catalog import Deployment

log = logging.getLogger("llmrelay.routing")


class RoutingListener:
    """Told about routing's events; does nothing (the default, when nobody listens)."""

    def attempt_failed(self, deployment: Deployment, kind: str) -> None:
        """An attempt on `deployment` failed: `connect`, `timeout`, `429`, `5xx`, or
        `rejected` (the upstream refused the request itself, a 400 say)."""

    def retried(self, deployment: Deployment) -> None:
        """`deployment` is tried after an earlier attempt of the same request failed."""

    def fell_back(self, model: str, fallback: str, reason: str) -> None:
        """A request for `model` moves on to its fallback model (`reason`: `failure`, or
        the refusal's kind: `context_length`, `content_filter`)."""

    def cooled_down(self, deployment: Deployment, seconds: float) -> None:
        """`deployment`'s breaker opened: it gets no traffic for `seconds`."""


_listener = RoutingListener()


def listen(listener: RoutingListener) -> None:
    """Tell `listener` about every routing event of this process from now on."""
    global _listener
    _listener = listener


def listener() -> RoutingListener:
    return _listener


def attempt_failed(deployment: Deployment, kind: str) -> None:
    _listener.attempt_failed(deployment, kind)


def retried(deployment: Deployment) -> None:
    _listener.retried(deployment)


def fell_back(model: str, fallback: str, reason: str) -> None:
    log.warning("%s: failing over to its fallback %s (%s)", model, fallback, reason)
    _listener.fell_back(model, fallback, reason)


def cooled_down(deployment: Deployment, seconds: float) -> None:
    log.warning(
        "%s via %s (%s) cooling down for %.1f s after failures",
        deployment.model,
        deployment.provider.name,
        deployment.upstream_model,
        seconds,
    )
    _listener.cooled_down(deployment, seconds)
