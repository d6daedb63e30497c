"""OpenTelemetry traces, when `tracing.otlp_endpoint` is set (docs/tracing.md).

This module is the switch and stays light: OpenTelemetry is an optional extra, and a relay
without tracing never imports it. The spans themselves are made in `tracing.spans`, loaded
only when tracing is on; the pipeline, the gate and the providers hold `None` instead of a
tracer otherwise, so tracing that is off costs one attribute check per step.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from llmrelay.config import ConfigError, Settings

if TYPE_CHECKING:
    from llmrelay.tracing.spans import Tracer

T = TypeVar("T")

OTEL_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")


class StepTracer(Protocol):
    """What the gate sees of a request's trace: a span around one of its steps."""

    def step(self, name: str, work: Awaitable[T], **attributes: Any) -> Awaitable[T]: ...


def require_otel(settings: Settings) -> None:
    """Refuse a configuration that asks for traces the installation cannot send."""
    endpoint = settings.tracing.otlp_endpoint
    if endpoint is None:
        return
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError("$.tracing.otlp_endpoint: must start with http:// or https://")
    for module in OTEL_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            raise ConfigError(
                "$.tracing.otlp_endpoint: traces need OpenTelemetry, which is not installed "
                f"(no module {module}): pip install 'llmrelay[otel]'"
            )


def open_tracer(settings: Settings) -> Tracer | None:
    """The process's tracer, or None when tracing is off (nothing of OpenTelemetry loaded)."""
    if settings.tracing.otlp_endpoint is None:
        return None
    require_otel(settings)
    from llmrelay.tracing.spans import Tracer

    return Tracer(settings.tracing)
