"""The pipeline every door shares: admit, route, attempt, meter, settle.

A door (`doors/`) turns its protocol into the relay's request and the relay's answer back
into its protocol; everything in between is here, once: the key, reading and parsing the
body (large ones off the event loop), the model, rate limits and the budget's worst-case
reservation, routing with retries before the first byte and fallbacks, the upstream call,
the meter, the settlement, and one ledger record for every request, however it ends.

It is plain ASGI: the hot path skips routers and middleware.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from llmrelay.config import ModelConfig
from llmrelay.connections import ABORT_SCOPE_KEY
from llmrelay.doors.base import Door, Headers, Inbound
from llmrelay.drain import drained
from llmrelay.metering.exchange import Exchange
from llmrelay.metering.ledger import UsageRecord
from llmrelay.metering.meter import StreamMeter, prompt_only_usage, whole_usage
from llmrelay.metering.prices import cost_nano, nano_to_usd
from llmrelay.protocol.errors import RelayError, internal_error, method_not_allowed
from llmrelay.protocol.json_body import claimed_model, parse_json_object
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.protocol.think_tags import ThinkTagFolder, fold_message
from llmrelay.providers.base import UpstreamCall, UpstreamError
from llmrelay.providers.direct_chunks import DirectChunks
from llmrelay.providers.direct_stream import DirectStream
from llmrelay.providers.native import NativeRequest, PrimedRawStream
from llmrelay.routing.catalog import Deployment, ResolvedModel
from llmrelay.routing.router import Router, failure_kind
from llmrelay.wire.body import ClientGone, read_body
from llmrelay.wire.chunk_pump import relay_direct_chunks
from llmrelay.wire.client_wire import WIRE_SCOPE_KEY, ClientWire
from llmrelay.wire.disconnect import cancel_on_disconnect
from llmrelay.wire.forwarded import client_address
from llmrelay.wire.pump import relay_direct
from llmrelay.wire.sse import STREAM_HEADERS
from llmrelay.wire.stream import KeepAlive, PrimedStream, relay_raw, relay_stream

if TYPE_CHECKING:
    from llmrelay.lineup import Lineup
    from llmrelay.relay import Relay

log = logging.getLogger("llmrelay.pipeline")

JSON_HEADERS = [(b"content-type", b"application/json")]
COST_HEADER = b"x-llmrelay-cost-usd"


class Pipeline:
    """One per process; `serve(door, ...)` runs one request through it."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def serve(self, door: Door, scope: dict[str, Any], receive: Any, send: Any) -> None:
        exchange = Exchange.begin(scope["llmrelay.request_id"], door.endpoint)
        exchange.client_ip = client_address(scope, self.relay.proxies)
        request_id_header = (b"x-request-id", exchange.request_id.encode())
        relay = self.relay
        lineup = relay.lineups.current.take()  # held to the end, whatever a reload does
        if relay.tracer is not None:
            exchange.trace = relay.tracer.begin(scope, door)
        relay.drain.enter(exchange)
        try:
            if scope["method"] not in door.methods:
                raise method_not_allowed(scope["method"], scope["path"], door.methods)
            await self._handle(door, scope, receive, send, exchange, request_id_header, lineup)
        except ClientGone:
            exchange.disconnected()
        except RelayError as error:
            await self._failed(door, send, error, exchange, request_id_header)
        except asyncio.CancelledError:
            error = drained(exchange)  # a draining server's time is up
            if error is None:
                raise
            await self._failed(door, send, error, exchange, request_id_header)
        except Exception:
            log.exception("request %s failed", exchange.request_id)
            await self._failed(door, send, internal_error(), exchange, request_id_header)
        finally:
            relay.drain.leave(exchange)
            try:
                await self._settle(exchange)
            finally:
                lineup.release()
                if exchange.trace is not None:
                    exchange.trace.end(exchange)

    async def _failed(
        self, door: Door, send: Any, error: RelayError, exchange: Exchange, request_id: tuple
    ) -> None:
        exchange.fail(error)
        if not exchange.response_started:
            await self._send_error(door, send, error, exchange, request_id)

    async def _settle(self, exchange: Exchange) -> None:
        """The ledger record, the body's bytes given back, the admission released."""
        relay = self.relay
        ended_early = exchange.client_disconnected or exchange.cut_with is not None
        if exchange.usage is None and ended_early and exchange.upstream_called:
            assert exchange.request is not None
            exchange.usage = prompt_only_usage(relay.tokens, exchange.request.messages)
            exchange.usage_estimated = True
        relay.bodies.release(exchange.body_bytes)
        try:
            record = self._record(exchange)
            relay.observer.settled(record, exchange)  # metrics and the request's log line
        finally:
            if exchange.admission is not None:
                usage = exchange.usage
                tokens = usage.total_tokens if usage is not None else 0
                await relay.gate.release(exchange.admission, tokens, exchange.cost_nano)

    def _record(self, exchange: Exchange) -> UsageRecord:
        """The request's one ledger record, written durably (to the outbox) once."""
        if exchange.recorded is None:
            exchange.recorded = exchange.record()
            self.relay.ledger.record(exchange.recorded)
        return exchange.recorded

    async def _send_error(
        self, door: Door, send: Any, error: RelayError, exchange: Exchange, request_id: tuple
    ) -> None:
        headers = [*door.error_headers(error), request_id]
        if exchange.admission is not None and not error.extra_headers:
            headers += exchange.admission.headers
        status = door.error_status(error)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": door.error_body(error)})

    async def _handle(
        self,
        door: Door,
        scope: dict[str, Any],
        receive: Any,
        send: Any,
        exchange: Exchange,
        rid: tuple[bytes, bytes],
        lineup: Lineup,
    ) -> None:
        relay = self.relay
        trace = exchange.trace
        authenticated = relay.keys.authenticate(door.credentials(scope))
        key = await (authenticated if trace is None else trace.step("gate.auth", authenticated))
        exchange.key = key
        address = exchange.client_ip
        try:
            inbound, resolved = await self._accept(door, scope, receive, exchange, lineup)
            await door.prepare(inbound, key, relay)
        except RelayError:
            await relay.gate.count_refusal(key, address)  # refusals are rate-limited too
            raise
        request = exchange.request = inbound.request
        if key.limited:
            exchange.admission = await relay.gate.admit(
                key, request, resolved.entry.priced_models, address, resolved.reasoning, trace
            )
        headers = [rid, *exchange.admission.headers] if exchange.admission else [rid]
        attempts = _Attempts(door, inbound, resolved, exchange)
        abort = scope.get(ABORT_SCOPE_KEY)
        wire = scope.get(WIRE_SCOPE_KEY)
        async with cancel_on_disconnect(receive, exchange, abort, wire) as abandon:
            router = lineup.router
            if request.stream:
                await self._stream(
                    door, resolved, attempts, send, exchange, headers, abandon, wire, router
                )
            else:
                await self._complete(door, resolved, attempts, send, exchange, headers, router)

    async def _accept(
        self, door: Door, scope: dict[str, Any], receive: Any, exchange: Exchange, lineup: Lineup
    ) -> tuple[Inbound, ResolvedModel]:
        """Read, parse and check the body, and find its model (a large body off the loop)."""
        relay = self.relay
        server = relay.settings.server
        raw = await read_body(scope, receive, server.max_body_bytes, relay.bodies)
        exchange.body_bytes = len(raw)
        if len(raw) > server.parse_in_thread_bytes:
            body = await relay.bodies.off_loop(parse_json_object, raw)
            del raw
            exchange.model = claimed_model(body)
            inbound = await relay.bodies.off_loop(door.parse, body)
        else:
            body = parse_json_object(raw)
            exchange.model = claimed_model(body)
            inbound = door.parse(body)
        if door.forwarded_headers:
            inbound.headers = {
                name.decode(): value.decode("latin-1")
                for name, value in scope["headers"]
                if name in door.forwarded_headers
            }
        request = inbound.request
        exchange.request = request
        exchange.stream = request.stream
        return inbound, lineup.catalog.resolve(request.model, exchange.key)

    async def _complete(
        self,
        door: Door,
        resolved: ResolvedModel,
        attempts: _Attempts,
        send: Any,
        exchange: Exchange,
        headers: Headers,
        router: Router,
    ) -> None:
        attempt = attempts.complete
        if exchange.trace is not None:
            attempt = exchange.trace.attempts(resolved.entry, attempt, stream=False)
        answer = await router.run(resolved.entry, attempt, waited=exchange.waited)
        call = attempts.last_call
        if attempts.last_native is not None:  # the door's own protocol: as it came
            usage = door.native_usage(answer)
            if usage is None:
                usage = prompt_only_usage(self.relay.tokens, call.request.messages)
                exchange.usage_estimated = True
            rendered = answer
        else:
            if call.model.think_tags:
                for choice in answer.get("choices") or ():
                    fold_message(choice.get("message") or {})
            usage, exchange.usage_estimated = whole_usage(
                self.relay.tokens, call.request.messages, answer
            )
            rendered = door.render(attempts.inbound, answer, usage)
        exchange.usage = usage
        await door.finish(attempts.inbound, rendered)
        body = orjson.dumps(rendered)
        exchange.mark_first_token()
        exchange.response_started = exchange.finished = True
        if call.model.price is not None:
            cost = cost_nano(call.model.price, usage)
            headers = [*headers, (COST_HEADER, str(nano_to_usd(cost)).encode())]
        self._record(exchange)  # before the answer leaves: a process killed as it goes bills it
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*JSON_HEADERS, *headers]}
        )
        await send({"type": "http.response.body", "body": body})

    async def _stream(
        self,
        door: Door,
        resolved: ResolvedModel,
        attempts: _Attempts,
        send: Any,
        exchange: Exchange,
        headers: Headers,
        abandon: Callable[[str], None],
        wire: ClientWire | None,
        router: Router,
    ) -> None:
        encoder = door.encoder(attempts.inbound)
        opener = _StreamOpener(self.relay, attempts, send, exchange, headers, wire is not None)
        attempt = opener.open
        if exchange.trace is not None:
            attempt = exchange.trace.attempts(resolved.entry, attempt, stream=True)
        try:
            try:
                stream = await router.run(resolved.entry, attempt, waited=exchange.waited)
            except asyncio.CancelledError:
                cut = drained(exchange)  # a draining server's time is up
                if cut is None:
                    raise
                raise cut from None
        except RelayError as error:
            if opener.keepalive is None:
                raise  # nothing sent yet: an HTTP status with a JSON body
            await opener.keepalive.stop()
            exchange.fail(error)
            exchange.finished = True
            body = encoder.error(error)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        call, deployment = attempts.last_call, attempts.last_deployment
        keepalive = opener.keepalive
        assert keepalive is not None
        timeouts = call.timeouts or deployment.provider.config.timeouts  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeouts.total - exchange.elapsed()
        keepalive.guard(timeouts.idle, deadline, abandon)
        messages = call.request.messages
        if isinstance(stream, PrimedRawStream | DirectStream):
            native_meter = door.native_meter(self.relay.tokens, messages)
            inbound = attempts.inbound

            async def keep(answer: dict[str, Any]) -> None:
                await door.finish(inbound, answer)

            if isinstance(stream, DirectStream):
                assert wire is not None
                error = await relay_direct(
                    stream, wire, send, exchange, native_meter, encoder, keepalive, keep
                )
            else:
                error = await relay_raw(
                    stream, send, exchange, native_meter, encoder, keepalive, keep
                )
        else:
            meter = StreamMeter(self.relay.tokens, messages)
            folder = ThinkTagFolder() if call.model.think_tags else None
            if isinstance(stream, DirectChunks):
                assert wire is not None
                error = await relay_direct_chunks(
                    stream, wire, send, exchange, meter, encoder, keepalive, folder
                )
            else:
                error = await relay_stream(
                    stream, send, exchange, meter, encoder, keepalive, folder
                )
        if isinstance(error, UpstreamError) and failure_kind(error) and error.health_failure:
            deployment.breaker.failed(None, error)  # too late to retry, not to learn


Opened = PrimedStream | PrimedRawStream | DirectStream | DirectChunks
"""A stream whose first token came: `prime`d, on aiohttp or on the relay's own client."""


class _StreamOpener:
    """Opens a deployment's stream for the router. The client gets its 200 as soon as the
    first upstream accepts, and `: ping`s from then on; the attempt only counts as answered
    when the first token arrives, so a deployment that goes silent after accepting is
    replaced before any data reaches the client."""

    def __init__(
        self,
        relay: Relay,
        attempts: _Attempts,
        send: Any,
        exchange: Exchange,
        headers: Headers,
        direct: bool,
    ) -> None:
        self.relay = relay
        self.attempts = attempts
        self.send = send
        self.exchange = exchange
        self.headers = headers
        self.direct = direct
        """A stream may be pumped straight to the client's socket (wire/pump.py)."""
        self.keepalive: KeepAlive | None = None

    async def open(self, deployment: Deployment) -> Opened:
        call = self.attempts.call(deployment)
        call.direct = self.direct
        native = self.attempts.native(deployment)
        primed: Opened
        if native is not None:
            stream: Any = await deployment.provider.open_native(call, native, self.direct)
            primed = stream if isinstance(stream, DirectStream) else PrimedRawStream(stream)
        else:
            stream = await self.attempts.door.open_upstream(deployment.provider, call)
            primed = stream if isinstance(stream, DirectChunks) else PrimedStream(stream)
        if self.keepalive is None:
            await self._start_response()
        timeouts = call.timeouts or deployment.provider.config.timeouts  # type: ignore[attr-defined]
        try:
            await primed.prime(timeouts.first_token, deployment.provider.name)
        except BaseException:
            await stream.aclose()
            raise
        return primed

    async def _start_response(self) -> None:
        self.exchange.response_started = True
        start = {"type": "http.response.start", "status": 200}
        await self.send({**start, "headers": [*STREAM_HEADERS, *self.headers]})
        self.keepalive = KeepAlive(self.send, self.relay.settings.server.keepalive_ping_seconds)


class _Attempts:
    """Builds the upstream call for each deployment tried, and remembers the last one."""

    def __init__(
        self, door: Door, inbound: Inbound, resolved: ResolvedModel, exchange: Exchange
    ) -> None:
        self.door = door
        self.inbound = inbound
        self.request = inbound.request
        self.resolved = resolved
        self.exchange = exchange
        admission = exchange.admission
        self.max_tokens = self.request.max_tokens or (admission and admission.output_cap)
        self.last_call: UpstreamCall
        self.last_deployment: Deployment
        self.last_native: NativeRequest | None = None

    def call(self, deployment: Deployment) -> UpstreamCall:
        model = deployment.config
        reasoning, written_out = self._reasoning(model)
        self.exchange.provider = deployment.provider.name
        self.exchange.upstream_model = deployment.upstream_model
        self.exchange.price = model.price
        self.last_deployment = deployment
        max_tokens = self.max_tokens
        if model.max_output_tokens is not None and (max_tokens or 0) > model.max_output_tokens:
            max_tokens = model.max_output_tokens  # Claude Code asks 32000 of any model
        self.last_call = UpstreamCall(
            self.request,
            deployment.upstream_model,
            self.exchange.request_id,
            model=model,
            reasoning=reasoning,
            reasoning_from_name=written_out,
            timeouts=deployment.timeouts,
            max_tokens=max_tokens,
        )
        if self.exchange.trace is not None:
            self.last_call.trace_headers = self.exchange.trace.upstream(deployment)
        return self.last_call

    def _reasoning(self, model: ModelConfig) -> tuple[ReasoningIntent | None, bool]:
        """The intent for `model`, and whether the provider writes it out itself: one from a
        model-name suffix always; one a door translated (not in the body), only for models
        configured `reasoning: true`; the body's own fields otherwise (passed as they came)."""
        if self.resolved.reasoning is not None:
            return self.resolved.reasoning, True
        request = self.request
        if request.reasoning_translated:
            return (request.reasoning, True) if model.reasoning else (None, False)
        return request.reasoning, False

    def native(self, deployment: Deployment) -> NativeRequest | None:
        """The pass-through request, when `deployment` speaks the door's protocol itself
        (after `call` for the same deployment)."""
        inbound = self.inbound
        native = None
        door, provider = self.door, deployment.provider
        if inbound.body is not None and provider.speaks(door.protocol, deployment.config):
            native = door.native_request(inbound, self.last_call)
        self.last_native = native
        return native

    async def complete(self, deployment: Deployment) -> dict[str, Any]:
        """One whole attempt: a `chat.completion`, or the door's own answer (pass-through)."""
        call = self.call(deployment)
        native = self.native(deployment)
        if native is not None:
            return await deployment.provider.complete_native(call, native)
        return await self.door.call_upstream(deployment.provider, call)
