"""Relaying an upstream's stream to a client, whatever the door: priming it up to its first
token (so a deployment that accepts and then says nothing can still be replaced), pinging
while it is silent, pumping its chunks through the door's encoder and the meter, and letting
go of a client that stops reading.

The pings are SSE comments (`: ping`), which every SSE client skips, whatever its protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from llmrelay.drain import drained
from llmrelay.metering.exchange import Exchange
from llmrelay.metering.meter import StreamMeter
from llmrelay.metering.native_meter import NativeStreamMeter
from llmrelay.protocol.errors import RelayError, internal_error
from llmrelay.protocol.think_tags import ThinkTagFolder
from llmrelay.providers.base import ChunkStream, carries_token, upstream_timeout
from llmrelay.providers.http_upstream import stream_cut
from llmrelay.providers.native import PrimedRawStream, scrubbed_events
from llmrelay.wire.sse import PING

if TYPE_CHECKING:
    from llmrelay.doors.base import StreamEncoder

log = logging.getLogger("llmrelay.stream")


class KeepAlive:
    """Sends `: ping` whenever the stream has been silent for `interval` seconds, and, once
    `guard` is called, ends a stream whose client stopped reading.

    A client that never reads fills the socket's buffers, and the next write to it waits for
    ever, holding the upstream connection with it. A write that has waited `write_timeout`
    seconds, or one still waiting when the exchange reaches its `deadline`, gets the client
    connection aborted: the request then ends as a disconnect, its upstream stream is
    released and it is billed for what was delivered."""

    def __init__(self, send: Any, interval: float) -> None:
        self.send = send
        self.interval = interval
        self.frame = PING
        """The ping (the door's own, once the stream's first frames are out)."""
        self.last_sent = time.monotonic()
        self.sending_since: float | None = None
        """When the write under way began (None: no write under way)."""
        self.write_timeout = math.inf
        self.deadline = math.inf
        self.abandon: Callable[[str], None] | None = None
        self.write: Callable[[bytes], None] | None = None
        """Set while a pump writes the body to the client's socket itself (wire/pump.py):
        pings go the same way, and the pump marks a write held up by the client's flow
        control in `sending_since`."""
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._ping: asyncio.Task[None] | None = None
        """A ping being sent through `send` (a task only while one is due)."""
        if interval > 0:
            self._arm()

    def guard(self, write_timeout: float, deadline: float, abandon: Callable[[str], None]) -> None:
        self.write_timeout, self.deadline, self.abandon = write_timeout, deadline, abandon
        if self._timer is None:
            self._arm()

    def _wake_at(self) -> float:
        if self.sending_since is None:
            return self.last_sent + self.interval if self.interval > 0 else math.inf
        return min(self.sending_since + self.write_timeout, self.deadline)

    def _arm(self) -> None:
        wake_at = self._wake_at()
        delay = 1.0 if wake_at == math.inf else max(0.0, wake_at - time.monotonic())
        self._timer = self._loop.call_later(delay, self._check)

    def _check(self) -> None:
        """A timer's work: abandon a write stalled too long, or ping a silent stream."""
        self._timer = None
        now = time.monotonic()
        if self.sending_since is not None:
            if self.abandon is not None and (
                now - self.sending_since >= self.write_timeout or now >= self.deadline
            ):
                self.abandon("client_write_timeout")
                return
        elif self.interval > 0 and now - self.last_sent >= self.interval:
            if self.write is not None:
                self.write(self.frame)
                self.last_sent = time.monotonic()
            else:
                self.sending_since = now  # the ping's send is a write under way too
                self._ping = self._loop.create_task(self._send_ping())
        self._arm()

    async def _send_ping(self) -> None:
        await self.send({"type": "http.response.body", "body": self.frame, "more_body": True})
        self.sending_since = None
        self.last_sent = time.monotonic()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ping is not None and not self._ping.done():
            self._ping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ping


async def relay_stream(
    stream: ChunkStream,
    send: Any,
    exchange: Exchange,
    meter: StreamMeter,
    encoder: StreamEncoder,
    keepalive: KeepAlive,
    folder: ThinkTagFolder | None = None,
) -> RelayError | None:
    """Pump `stream` to the client through the door's `encoder`: each chunk is seen by
    `meter` first, and by `folder` for a model that writes `<think>` inline. The response has
    been started (status 200) already, and `keepalive` has been pinging since.

    Returns the error that cut the stream, if one did (the client got it in the door's
    shape)."""
    opening = encoder.begin()  # sent with the first frames: only `: ping`s came before

    async def frames() -> AsyncIterator[bytes]:
        nonlocal opening
        async for batch in stream.batches():
            body = opening + encoded(batch, meter, encoder, folder)
            if body:
                opening = b""
                keepalive.frame = encoder.ping
                yield body

    try:
        error = await _pump(frames(), stream, send, exchange, keepalive)
    finally:  # a client that left is billed for what was delivered too
        exchange.usage = meter.usage()
        exchange.usage_estimated = meter.estimated
    return await end_chunks(error, opening, send, exchange, meter, encoder)


def encoded(
    chunks: list[dict[str, Any]],
    meter: StreamMeter,
    encoder: StreamEncoder,
    folder: ThinkTagFolder | None,
) -> bytes:
    """One read's chunks in the door's protocol, each seen by `meter` first (and by `folder`,
    for a model that writes `<think>` inline)."""
    body = b""
    for chunk in chunks:
        meter.observe(chunk)
        if folder is not None:
            for choice in chunk.get("choices") or ():
                folder.fold(choice)
        body += encoder.delta(chunk)
    return body


async def end_chunks(
    error: RelayError | None,
    opening: bytes,
    send: Any,
    exchange: Exchange,
    meter: StreamMeter,
    encoder: StreamEncoder,
) -> RelayError | None:
    """End a translated stream's response: the door's end (once its answer is kept, for a
    door that keeps one), or its error frame; `opening` if nothing went out yet."""
    if error is None:
        try:
            await encoder.finish(meter)
        except RelayError as exc:
            error = exc
            exchange.fail(error)
    tail = encoder.error(error) if error is not None else encoder.end(meter)
    await send({"type": "http.response.body", "body": opening + tail, "more_body": False})
    return error


async def relay_raw(
    stream: PrimedRawStream,
    send: Any,
    exchange: Exchange,
    meter: NativeStreamMeter,
    encoder: StreamEncoder,
    keepalive: KeepAlive,
    keep: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> RelayError | None:
    """Pump a pass-through's SSE events to the client as they came, `meter` reading the usage
    on the side; an error that cuts it is the door's own error frame. `keep` stores the
    protocol's whole answer (`meter.final`) before the event that carries it goes out."""

    async def frames() -> AsyncIterator[bytes]:
        kept = keep is None
        events, following = stream.first, stream.rest.__anext__
        provider = stream.inner.provider
        keepalive.frame = encoder.ping  # the upstream's first events are going out
        while True:
            if events:
                if meter.marked(events):  # an error or a stop reason may quote a secret
                    events = scrubbed_events(provider, events)
                meter.feed(events)
                if not kept and meter.final is not None:
                    kept = True
                    await keep(meter.final)  # type: ignore[misc]
                yield events
            try:
                events = await following()
            except StopAsyncIteration:
                return

    try:
        error = await _pump(frames(), stream, send, exchange, keepalive)
    finally:  # a client that left is billed for what was delivered too
        exchange.usage = meter.usage()
        exchange.usage_estimated = meter.estimated
    return await end_raw(error, stream.inner.provider.name, send, exchange, meter, encoder)


async def end_raw(
    error: RelayError | None,
    provider: str,
    send: Any,
    exchange: Exchange,
    meter: NativeStreamMeter,
    encoder: StreamEncoder,
) -> RelayError | None:
    """End a pass-through's response: a stream the upstream closed before the protocol's end
    event was cut, and an error gets the door's own error frame."""
    if error is None and not meter.ended:
        error = stream_cut(provider)
        exchange.fail(error)
    tail = encoder.error(error) if error is not None else b""
    await send({"type": "http.response.body", "body": tail, "more_body": False})
    return error


async def _pump(
    frames: AsyncIterator[bytes],
    stream: ChunkStream | PrimedRawStream,
    send: Any,
    exchange: Exchange,
    keepalive: KeepAlive,
) -> RelayError | None:
    """Send each of `frames` as it comes; the error that cut them, if one did."""
    error: RelayError | None = None
    try:
        async for body in frames:
            exchange.mark_first_token()
            keepalive.sending_since = time.monotonic()
            await send({"type": "http.response.body", "body": body, "more_body": True})
            keepalive.sending_since = None
            keepalive.last_sent = time.monotonic()
    except RelayError as exc:
        error = exc
    except asyncio.CancelledError:
        error = drained(exchange)  # a draining server's time is up: the error frame follows
        if error is None:
            raise
    except Exception:  # a bug or an upstream shape no translator expected: still end cleanly
        log.exception("stream %s failed", exchange.request_id)
        error = internal_error()
    finally:
        await keepalive.stop()
        await stream.aclose()
    exchange.finished = True
    if error is not None:
        exchange.fail(error)
    return error


class PrimedStream(ChunkStream):
    """A stream whose first token has arrived: until then nothing but `: ping` comments has
    reached the client, so a deployment that accepted the request and then said nothing (or
    only its role) can still be swapped for another without the client noticing."""

    def __init__(self, inner: ChunkStream) -> None:
        self.inner = inner
        self._batches = inner.batches().__aiter__()
        self._first: list[dict[str, Any]] | None = None

    async def prime(self, first_token: float, provider: str) -> None:
        """Read, within `first_token`, up to the first batch that carries a token (or the
        end); the chunks read so far are sent first, together."""
        first: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(first_token):
                while not carries_token(first):
                    first.extend(await anext(self._batches))
        except TimeoutError:
            raise upstream_timeout(provider, "no first token in time") from None
        except StopAsyncIteration:
            pass
        self._first = first

    @property
    def first_batch(self) -> list[dict[str, Any]]:
        """What arrived up to the first token (the router looks for a content filter's bare
        refusal there)."""
        return self._first or []

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        if self._first:
            yield self._first
        async for batch in self._batches:
            yield batch

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for chunk in batch:
                yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()
