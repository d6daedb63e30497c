"""`POST /v1/chat/completions`: the product's public face, written as plain ASGI.

The hot path skips routers and middleware: read the body, authenticate, validate the few
fields the relay needs, pick the deployment, then either relay a whole response or a stream.
Every request, however it ends, leaves one ledger record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import orjson

from llmrelay.api.body import ClientGone, read_body
from llmrelay.api.exchange import Exchange
from llmrelay.api.sse import STREAM_HEADERS, data_frame
from llmrelay.api.stream_relay import (
    ChunkShaper,
    KeepAlive,
    PrimedStream,
    UsageEstimate,
    relay_stream,
)
from llmrelay.api.think_tags import fold_message
from llmrelay.connections import ABORT_SCOPE_KEY
from llmrelay.gate.auth import bearer_token
from llmrelay.metering.prices import cost_nano, nano_to_usd
from llmrelay.metering.tokens import DeliveredTokens
from llmrelay.protocol.errors import RelayError, internal_error, method_not_allowed
from llmrelay.protocol.json_body import claimed_model, parse_json_object
from llmrelay.protocol.request import ChatRequest, chat_request_from
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import UpstreamCall, UpstreamError
from llmrelay.routing.catalog import Deployment, ResolvedModel
from llmrelay.routing.router import failure_kind

if TYPE_CHECKING:
    from llmrelay.app import Relay

log = logging.getLogger("llmrelay.chat")

JSON_HEADERS = [(b"content-type", b"application/json")]
COST_HEADER = b"x-llmrelay-cost-usd"


def _authorization(scope: dict[str, Any]) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value
    return None


class ChatCompletionsEndpoint:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        exchange = Exchange.begin(scope["llmrelay.request_id"])
        request_id_header = (b"x-request-id", exchange.request_id.encode())
        try:
            if scope["method"] != "POST":
                raise method_not_allowed(scope["method"], scope["path"], ("POST",))
            await self._handle(scope, receive, send, exchange, request_id_header)
        except ClientGone:
            exchange.disconnected()
        except RelayError as error:
            exchange.fail(error)
            if not exchange.response_started:
                await self._send_error(send, error, exchange, request_id_header)
        except Exception:
            log.exception("request %s failed", exchange.request_id)
            error = internal_error()
            exchange.fail(error)
            if not exchange.response_started:
                await self._send_error(send, error, exchange, request_id_header)
        finally:
            if exchange.usage is None and exchange.client_disconnected and exchange.upstream_called:
                self._bill_prompt(exchange)
            self.relay.bodies.release(exchange.body_bytes)
            try:
                self.relay.ledger.record(exchange.record())
            finally:
                if exchange.admission is not None:
                    usage = exchange.usage
                    tokens = usage.total_tokens if usage is not None else 0
                    await self.relay.gate.release(exchange.admission, tokens, exchange.cost_nano)

    def _bill_prompt(self, exchange: Exchange) -> None:
        """The client left before any answer: the upstream has the prompt, and bills it."""
        assert exchange.request is not None
        prompt = self.relay.tokens.count_messages(exchange.request.messages)
        exchange.usage, exchange.usage_estimated = Usage(prompt, 0), True

    async def _send_error(
        self, send: Any, error: RelayError, exchange: Exchange, request_id: tuple
    ) -> None:
        headers = [*error.headers(), request_id]
        if exchange.admission is not None and not error.extra_headers:
            headers += exchange.admission.headers
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": error.json()})

    async def _handle(
        self, scope: dict[str, Any], receive: Any, send: Any, exchange: Exchange, rid: tuple
    ) -> None:
        relay = self.relay
        key = await relay.keys.authenticate(bearer_token(_authorization(scope)))
        exchange.key = key
        client = scope.get("client")
        address = client[0] if client else None
        try:
            request, resolved = await self._accept(scope, receive, exchange)
        except RelayError:
            await relay.gate.count_refusal(key, address)  # refusals are rate-limited too
            raise
        if key.limited:
            exchange.admission = await relay.gate.admit(
                key, request, resolved.entry.priced_models, address, resolved.reasoning
            )
        headers = [rid, *exchange.admission.headers] if exchange.admission else [rid]
        attempts = _Attempts(request, resolved, exchange)
        abort = scope.get(ABORT_SCOPE_KEY)
        async with _cancel_on_disconnect(receive, exchange, abort) as abandon:
            if request.stream:
                await self._stream(resolved, attempts, send, exchange, headers, abandon)
            else:
                await self._complete(resolved, attempts, send, exchange, headers)

    async def _accept(
        self, scope: dict[str, Any], receive: Any, exchange: Exchange
    ) -> tuple[ChatRequest, ResolvedModel]:
        """Read, parse and check the body, and find its model (a large body off the loop)."""
        relay = self.relay
        server = relay.settings.server
        raw = await read_body(scope, receive, server.max_body_bytes, relay.bodies)
        exchange.body_bytes = len(raw)
        if len(raw) > server.parse_in_thread_bytes:
            body = await relay.bodies.off_loop(parse_json_object, raw)
            del raw
            exchange.model = claimed_model(body)
            request = await relay.bodies.off_loop(chat_request_from, body)
        else:
            body = parse_json_object(raw)
            exchange.model = claimed_model(body)
            request = chat_request_from(body)
        exchange.request = request
        exchange.stream = request.stream
        return request, relay.catalog.resolve(request.model, exchange.key)

    async def _complete(
        self,
        resolved: ResolvedModel,
        attempts: _Attempts,
        send: Any,
        exchange: Exchange,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        body = await self.relay.router.run(
            resolved.entry, lambda d: d.provider.complete(attempts.call(d))
        )
        call = attempts.last_call
        body["model"] = call.request.model
        body["object"] = "chat.completion"
        if call.model.think_tags:
            for choice in body.get("choices") or ():
                fold_message(choice.get("message") or {})
        exchange.usage = Usage.from_openai(body.get("usage"))
        if exchange.usage is None:
            exchange.usage = self._count_usage(call.request, body)
            exchange.usage_estimated = True
            body["usage"] = exchange.usage.to_openai()
        exchange.mark_first_token()
        exchange.response_started = exchange.finished = True
        if call.model.price is not None:
            cost = cost_nano(call.model.price, exchange.usage)
            headers = [*headers, (COST_HEADER, str(nano_to_usd(cost)).encode())]
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*JSON_HEADERS, *headers]}
        )
        await send({"type": "http.response.body", "body": orjson.dumps(body)})

    def _count_usage(self, request: ChatRequest, body: dict[str, Any]) -> Usage:
        delivered = DeliveredTokens(self.relay.tokens)
        for choice in body.get("choices") or ():
            delivered.add_delta(choice.get("message") or {})
        return Usage(self.relay.tokens.count_messages(request.messages), delivered.tokens)

    async def _stream(
        self,
        resolved: ResolvedModel,
        attempts: _Attempts,
        send: Any,
        exchange: Exchange,
        headers: list[tuple[bytes, bytes]],
        abandon: Callable[[str], None],
    ) -> None:
        opener = _StreamOpener(self.relay, attempts, send, exchange, headers)
        try:
            stream = await self.relay.router.run(resolved.entry, opener.open)
        except RelayError as error:
            if opener.keepalive is None:
                raise  # nothing sent yet: an HTTP status with a JSON body
            await opener.keepalive.stop()
            exchange.fail(error)
            exchange.finished = True
            body = data_frame(error.body())
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        call, deployment = attempts.last_call, attempts.last_deployment
        request = call.request
        estimate = UsageEstimate(self.relay.tokens, request.messages)
        shaper = ChunkShaper(request.model, request.include_usage, call.model.think_tags, estimate)
        assert opener.keepalive is not None
        timeouts = call.timeouts or deployment.provider.config.timeouts  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeouts.total - exchange.elapsed()
        opener.keepalive.guard(timeouts.idle, deadline, abandon)
        error = await relay_stream(stream, send, exchange, shaper, opener.keepalive)
        if isinstance(error, UpstreamError) and failure_kind(error) and error.health_failure:
            deployment.breaker.failed(None, error)  # too late to retry, not to learn


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
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.relay = relay
        self.attempts = attempts
        self.send = send
        self.exchange = exchange
        self.headers = headers
        self.keepalive: KeepAlive | None = None

    async def open(self, deployment: Deployment) -> PrimedStream:
        call = self.attempts.call(deployment)
        stream = await deployment.provider.open_stream(call)
        if self.keepalive is None:
            self.exchange.response_started = True
            await self.send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [*STREAM_HEADERS, *self.headers],
                }
            )
            self.keepalive = KeepAlive(self.send, self.relay.settings.server.keepalive_ping_seconds)
        primed = PrimedStream(stream)
        timeouts = call.timeouts or deployment.provider.config.timeouts  # type: ignore[attr-defined]
        try:
            await primed.prime(timeouts.first_token, deployment.provider.name)
        except BaseException:
            await stream.aclose()
            raise
        return primed


class _Attempts:
    """Builds the upstream call for each deployment tried, and remembers the last one."""

    def __init__(self, request: ChatRequest, resolved: ResolvedModel, exchange: Exchange):
        self.request = request
        self.resolved = resolved
        self.exchange = exchange
        self.last_call: UpstreamCall
        self.last_deployment: Deployment

    def call(self, deployment: Deployment) -> UpstreamCall:
        reasoning = self.resolved.reasoning
        self.exchange.provider = deployment.provider.name
        self.exchange.upstream_model = deployment.upstream_model
        self.exchange.price = deployment.config.price
        self.last_deployment = deployment
        self.last_call = UpstreamCall(
            self.request,
            deployment.upstream_model,
            self.exchange.request_id,
            model=deployment.config,
            reasoning=reasoning or self.request.reasoning,
            reasoning_from_name=reasoning is not None,
            timeouts=deployment.timeouts,
        )
        return self.last_call


WATCH_AFTER_SECONDS = 0.02
"""Requests that finish sooner never pay for a watcher task (most relayed calls do)."""


@contextlib.asynccontextmanager
async def _cancel_on_disconnect(
    receive: Any, exchange: Exchange, abort: Callable[[], None] | None
) -> AsyncIterator[Callable[[str], None]]:
    """Cancel the work (and so the upstream call) the moment the client goes away.

    The watcher starts only once the request has run for `WATCH_AFTER_SECONDS`; a client that
    left before then is noticed at that moment, since `receive()` then answers at once.
    Yields `abandon(code)`: give up on a client that is there but no longer reading (its
    connection is aborted, which the watcher then sees as a disconnect).
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    watcher: asyncio.Task[None] | None = None

    def cancel() -> None:
        if not exchange.finished:
            exchange.disconnected()
            task.cancel()

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                cancel()
                return

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    def abandon(code: str) -> None:
        exchange.error_code = code
        if abort is not None:
            abort()  # the server then tells the watcher the client is gone
        else:
            cancel()

    timer = loop.call_later(WATCH_AFTER_SECONDS, start_watching)
    try:
        yield abandon
    except asyncio.CancelledError:
        if not exchange.client_disconnected:
            raise
        task.uncancel()
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
