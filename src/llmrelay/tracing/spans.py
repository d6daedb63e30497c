"""The spans of one request, made with the OpenTelemetry SDK and sent over OTLP/HTTP.

A request's span (kind SERVER) is the child of the client's W3C `traceparent`, when it sent
one. Under it: one span per gate step (`gate.auth`, `gate.limits`, `gate.budget`), and one per
routing attempt (`routing.attempt`), each with the span of its upstream call (kind CLIENT)
whose context goes upstream in `traceparent`, so the vendor's (or a self-hosted server's)
spans join the same trace. Spans are exported in batches on the SDK's own thread; the batch
is flushed when the process shuts down. Only loaded when `tracing.otlp_endpoint` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from llmrelay import __version__
from llmrelay.config_ops import TracingConfig
from llmrelay.metering.prices import nano_to_usd
from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import UpstreamError
from llmrelay.routing.router import failure_kind

if TYPE_CHECKING:
    from llmrelay.doors.base import Door
    from llmrelay.metering.exchange import Exchange
    from llmrelay.routing.catalog import Deployment, ModelEntry

T = TypeVar("T")

TRACE_HEADERS = (b"traceparent", b"tracestate")
"""The W3C Trace Context headers read from the client (https://www.w3.org/TR/trace-context/)."""


def traces_url(endpoint: str) -> str:
    """The collector's traces URL: a bare `http://host:4318` gets OTLP's `/v1/traces`."""
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


class Tracer:
    """One per process: the SDK's provider, its batching exporter, and the propagator."""

    def __init__(self, config: TracingConfig, exporter: SpanExporter | None = None) -> None:
        assert config.otlp_endpoint is not None
        resource = Resource.create(
            {"service.name": config.service_name, "service.version": __version__}
        )
        self.provider = TracerProvider(resource=resource)
        exporter = exporter or OTLPSpanExporter(endpoint=traces_url(config.otlp_endpoint))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("llmrelay", __version__)
        self.propagator = TraceContextTextMapPropagator()

    def begin(self, scope: dict[str, Any], door: Door) -> RequestTrace:
        """The request's span, continuing the client's trace when it sent `traceparent`."""
        carrier = {
            name.decode(): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in TRACE_HEADERS
        }
        parent = self.propagator.extract(carrier) if carrier else None
        method, path = scope["method"], scope["path"]
        span = self.tracer.start_span(
            f"{method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": path,
                "llmrelay.door": door.endpoint,
                "llmrelay.request_id": scope["llmrelay.request_id"],
            },
        )
        return RequestTrace(self, span)

    def shutdown(self) -> None:
        """Export what is still batched, then stop (blocking: run it off the event loop)."""
        self.provider.shutdown()


class RequestTrace:
    """One request's spans. The pipeline calls `step`, `attempts`, `upstream` and `end`."""

    __slots__ = ("_attempt", "_context", "_tracer", "_tries", "_upstream", "span")

    def __init__(self, tracer: Tracer, span: Span) -> None:
        self._tracer = tracer
        self.span = span
        self._context = set_span_in_context(span)
        self._tries = 0
        self._attempt: Context | None = None
        """The routing attempt in progress: the parent of its upstream call."""
        self._upstream: Span | None = None
        """The upstream call of the attempt that answered a stream, open until it ends."""

    async def step(self, name: str, work: Awaitable[T], **attributes: Any) -> T:
        """Await one gate step (`gate.auth`, `gate.limits`, `gate.budget`) in its own span."""
        span = self._tracer.tracer.start_span(name, context=self._context, attributes=attributes)
        try:
            return await work
        except BaseException as exc:
            _failed(span, exc)
            raise
        finally:
            span.end()

    def attempts(
        self,
        entry: ModelEntry,
        attempt: Callable[[Deployment], Awaitable[T]],
        stream: bool,
    ) -> Callable[[Deployment], Awaitable[T]]:
        """`attempt` (what the router calls per deployment) with a span around each call.
        A stream's upstream call outlasts its attempt: it ends with the request."""

        async def traced(deployment: Deployment) -> T:
            self._tries += 1
            provider = deployment.provider.name
            span = self._tracer.tracer.start_span(
                "routing.attempt",
                context=self._context,
                attributes={
                    "llmrelay.attempt": self._tries,
                    "llmrelay.attempt.kind": _attempt_kind(entry, deployment, self._tries),
                    "llmrelay.model": deployment.model,
                    "llmrelay.deployment": f"{provider}/{deployment.upstream_model}",
                    "llmrelay.provider": provider,
                },
            )
            self._attempt = set_span_in_context(span)
            try:
                result = await attempt(deployment)
            except BaseException as exc:
                span.set_attribute("llmrelay.outcome", _outcome(exc))
                _failed(span, exc)
                self._end_upstream(exc)
                raise
            else:
                span.set_attribute("llmrelay.outcome", "answered")
                if not stream:
                    self._end_upstream(None)
            finally:
                self._attempt = None
                span.end()
            return result

        return traced

    def upstream(self, deployment: Deployment) -> dict[str, str]:
        """Begin the upstream call's span; its context as the headers that carry it on."""
        provider = deployment.provider
        attributes: dict[str, Any] = {
            "llmrelay.provider": provider.name,
            "llmrelay.provider.type": provider.kind,
            "gen_ai.request.model": deployment.upstream_model,
        }
        base_url = getattr(getattr(provider, "config", None), "base_url", None)
        if base_url:  # only its host and port: a base URL may carry a credential
            parts = urlsplit(base_url)
            attributes["server.address"] = parts.hostname or ""
            if parts.port is not None:
                attributes["server.port"] = parts.port
        span = self._tracer.tracer.start_span(
            f"upstream {provider.name}",
            context=self._attempt or self._context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self._upstream = span
        carrier: dict[str, str] = {}
        self._tracer.propagator.inject(carrier, context=set_span_in_context(span))
        return carrier

    def _end_upstream(self, exc: BaseException | None) -> None:
        span, self._upstream = self._upstream, None
        if span is None:
            return
        if exc is None:
            span.set_attribute("http.response.status_code", 200)
        else:
            status = getattr(exc, "upstream_status", None)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            _failed(span, exc)
        span.end()

    def end(self, exchange: Exchange) -> None:
        """The request's outcome on its span, and the span (and a stream's upstream) ended."""
        span = self.span
        upstream = self._upstream
        if upstream is not None:  # a stream's: answered 200, then ran until now
            self._upstream = None
            upstream.set_attribute("http.response.status_code", 200)
            if exchange.error_code is not None and exchange.cut_with is None:
                upstream.set_status(Status(StatusCode.ERROR, exchange.error_code))
            upstream.end()
        span.set_attributes(_request_attributes(exchange))
        failed = exchange.status >= 500 or (exchange.response_started and exchange.error_code)
        if failed and not exchange.client_disconnected:
            span.set_status(Status(StatusCode.ERROR, exchange.error_code or ""))
        span.end()


def _request_attributes(exchange: Exchange) -> dict[str, Any]:
    """What the request span says once the request has ended: never a key's secret."""
    attributes: dict[str, Any] = {
        "http.response.status_code": exchange.status,
        "llmrelay.stream": exchange.stream,
    }
    optional = {
        "gen_ai.request.model": exchange.model,
        "llmrelay.key_id": exchange.key.id if exchange.key is not None else None,
        "llmrelay.key_name": exchange.key.name if exchange.key is not None else None,
        "llmrelay.provider": exchange.provider,
        "gen_ai.response.model": exchange.upstream_model,
        "error.type": exchange.error_code,
    }
    attributes.update({name: value for name, value in optional.items() if value is not None})
    if exchange.client_disconnected:
        attributes["llmrelay.client_disconnected"] = True
    usage = exchange.usage
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if usage.cached_tokens is not None:
            attributes["llmrelay.usage.cached_tokens"] = usage.cached_tokens
        if usage.reasoning_tokens is not None:
            attributes["llmrelay.usage.reasoning_tokens"] = usage.reasoning_tokens
        attributes["llmrelay.usage.estimated"] = exchange.usage_estimated
    if exchange.price is not None:
        attributes["llmrelay.cost_usd"] = nano_to_usd(exchange.cost_nano)
    return attributes


def _attempt_kind(entry: ModelEntry, deployment: Deployment, tries: int) -> str:
    """`first`, `retry` (another deployment of the model) or `fallback` (another model)."""
    if deployment.model != entry.name:
        return "fallback"
    return "first" if tries == 1 else "retry"


def _outcome(exc: BaseException) -> str:
    """How an attempt ended: the router's failure kind (`connect`, `timeout`, `429`, `5xx`),
    `refused` (an answer no retry mends), `cancelled` (the client left) or `error`."""
    if isinstance(exc, UpstreamError):
        return failure_kind(exc) or "refused"
    if isinstance(exc, RelayError):
        return "refused"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


def _failed(span: Span, exc: BaseException) -> None:
    """Mark `span` failed: the relay's error code and message (already free of upstream
    credentials), or only the exception's type for anything else."""
    if isinstance(exc, RelayError):
        span.set_attribute("error.type", exc.code or exc.type)
        span.set_status(Status(StatusCode.ERROR, exc.message))
    else:
        span.set_attribute("error.type", type(exc).__name__)
        span.set_status(Status(StatusCode.ERROR))
