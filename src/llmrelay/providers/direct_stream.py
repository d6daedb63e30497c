"""A pass-through's stream on the relay's own HTTP/1.1 client (`h1_pool`), read by callbacks.

Each socket read of the upstream's body is cut at its last SSE event boundary and handed,
from the connection's protocol callback, to the stream's `EventSink` (the client-side pump,
`wire/pump.py`): no task wakes per read. What the aiohttp path (`native.RawStream` under
`HttpProvider.post`) does is kept: the same request headers, `connect` and `first_token`
bounds on reaching the upstream and on its headers, the non-200 answer's body (at most
`ERROR_BODY_LIMIT` bytes) mapped by the provider's `error_for`, `max(idle, first_token)`
between reads (not counted while the client's back-pressure holds the reads) and `total`
for the whole exchange. A connection that an upstream closed while it sat idle in the pool
is replaced once, before any byte of an answer came.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Mapping
from typing import Protocol, TypeVar

from llmrelay.config import Timeouts
from llmrelay.providers.base import UpstreamCall, UpstreamError, upstream_timeout
from llmrelay.providers.base import upstream_unreachable as unreachable
from llmrelay.providers.h1_connection import H1Connection
from llmrelay.providers.h1_pool import H1Pool, request_path
from llmrelay.providers.http_upstream import (
    ERROR_BODY_LIMIT,
    HttpProvider,
    for_client,
    read_gap,
    stream_cut,
)
from llmrelay.providers.sse_reader import complete_event_end

IDENTITY = ("", "identity")


class EventSink(Protocol):
    def events(self, events: bytes) -> None:
        """Whole SSE events, as one read brought them."""

    def ended(self, error: UpstreamError | None) -> None:
        """The stream ended: cleanly (None) or cut by `error`."""


class _Stale(Exception):
    """A kept-alive connection closed before it answered (the upstream let it go idle)."""


class DirectStream:
    """One upstream SSE answer, from its status line on. `first` holds the events `prime`
    waited for; after `start(sink)`, every later read's events go to `sink` at once."""

    too_long = "the stream outlasted the total timeout"
    too_quiet = "no data between chunks in time"

    def __init__(
        self,
        provider: HttpProvider,
        pool: H1Pool,
        connection: H1Connection,
        timeouts: Timeouts,
        started: float,
    ) -> None:
        """`started`: when the exchange began, in the loop's time (`first_token` bounds the
        wait for the headers from then, `total` the whole exchange)."""
        loop = pool.loop
        assert loop is not None
        self.provider = provider
        self.name = provider.name
        self.pool = pool
        self.connection = connection
        self.status: asyncio.Future[int] = loop.create_future()
        self.headers: dict[str, str] = {}
        self.first = b""
        self.loop = loop
        self._first: asyncio.Future[bytes] = loop.create_future()
        self._error_body: bytearray | None = None
        self._error_read: asyncio.Future[None] | None = None
        self._sink: EventSink | None = None
        self._buffer = b""
        self._extra = b""
        """Events after `first` that came before a sink took the stream."""
        self._end: list[UpstreamError | None] = []
        """The end, when it came before a sink took the stream."""
        self._released = False
        self._gap = read_gap(timeouts)
        self._head_due = started + timeouts.first_token
        self._first_due = math.inf
        self._deadline = started + timeouts.total
        self._last_read = started
        self._timer: asyncio.TimerHandle | None = loop.call_at(
            min(self._head_due, self._deadline), self._check_timeouts
        )

    # -- the opener's and the pump's side ----------------------------------------------

    async def error_body(self, wait: float) -> bytes:
        """The body of a non-200 answer, up to `ERROR_BODY_LIMIT` bytes (what came in `wait`
        seconds: an error's status says enough without it)."""
        assert self._error_body is not None and self._error_read is not None
        try:
            async with asyncio.timeout(wait):
                await self._error_read
        except TimeoutError:
            pass
        return bytes(self._error_body[:ERROR_BODY_LIMIT])

    async def prime(self, first_token: float, provider: str) -> None:
        """Wait, within `first_token`, for the first events (b"": it ended without any)."""
        self._first_due = self.loop.time() + first_token  # (later than the headers' due)
        self.first = await self._first

    def start(self, sink: EventSink) -> None:
        """From now on events go to `sink` (reads stay paused until `resume`)."""
        self._sink = sink
        if self._extra:
            sink.events(self._extra)
        if self._end:
            sink.ended(self._end[0])

    def take(self, sink: EventSink) -> None:
        """Every read's events go to `sink` from now on, those that came already first, and
        reading goes on (for a reader that primes itself: `DirectChunks`)."""
        first = self._first
        if first.done():
            error = first.exception()
            self.first = first.result() if error is None else b""
            if error is not None or not self.first:  # it ended before any event came
                self._sink = sink
                sink.ended(error)  # type: ignore[arg-type]
                return
        else:
            first.cancel()  # nobody waits for it now
        self._sink = sink
        if self.first:
            sink.events(self.first)
        self.start(sink)
        self.resume()

    def pause(self) -> None:
        if not self._released:  # (a connection given back may be carrying another answer)
            self.connection.pause()

    def resume(self) -> None:
        if not self._released:
            self._last_read = self.loop.time()  # a paused read was no upstream's silence
            self.connection.resume()

    def abort(self) -> None:
        """Drop the upstream connection (a response not read to its end is not reused)."""
        self._drop()
        for future in (self.status, self._first):
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # seen: no "never retrieved" warning for what nobody awaits

    async def aclose(self) -> None:
        self.abort()

    # -- the connection's callbacks (ResponseHandler) ----------------------------------

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.headers = headers
        if status != 200:
            self._error_body = bytearray()
            self._error_read = self.loop.create_future()
        elif headers.get("content-encoding", "").lower() not in IDENTITY:
            self._fail(self.provider.malformed("a compressed stream it was not asked for"))
            return
        else:
            self._last_read = self.loop.time()
        if not self.status.done():
            self.status.set_result(status)

    def body(self, data: bytes) -> None:
        if self._error_body is not None:
            if len(self._error_body) < ERROR_BODY_LIMIT:
                self._error_body += data
        else:
            self._buffer = self._buffer + data if self._buffer else data

    def read_end(self) -> None:
        if self._error_body is not None:
            if self.connection.complete or len(self._error_body) >= ERROR_BODY_LIMIT:
                self._error_done()
            return
        self._last_read = self.loop.time()
        buffer = self._buffer
        if buffer:
            cut = complete_event_end(buffer)
            if cut == len(buffer):  # whole events, as nearly every read is
                self._buffer = b""
                if self._sink is not None:
                    self._sink.events(buffer)
                else:
                    self._deliver(buffer)
            elif cut:
                self._buffer = buffer[cut:]
                self._deliver(buffer[:cut])
        if self.connection.complete:
            self._finish(None)

    def lost(self, exc: BaseException | None) -> None:
        connection = self.connection
        if self._error_body is not None:
            self._error_done()
        elif not self.status.done():
            if connection.reused and not connection.received:
                self.status.set_exception(_Stale())
            else:
                cause = f"closed before answering ({type(exc).__name__ if exc else 'EOF'})"
                self.status.set_exception(unreachable(self.name, cause))
            self._drop()
        elif exc is None and connection.until_close:
            self._finish(None)  # a body without length or chunks ends with the connection
        else:
            self._fail(stream_cut(self.name, "connection closed mid-body"))

    # -- inside ------------------------------------------------------------------------

    def _deliver(self, events: bytes) -> None:
        sink = self._sink
        if sink is not None:
            sink.events(events)
        elif not self._first.done():
            self._first.set_result(events)
            self.connection.pause()  # the rest waits for the pump
        else:
            self._extra += events  # (only a last unterminated event, at the end)

    def _finish(self, error: UpstreamError | None) -> None:
        if error is None and self._buffer.strip():
            self._deliver(self._buffer + b"\n\n")  # a last event without its blank line
        self._buffer = b""
        self._drop(keep=error is None)
        if self._sink is not None:
            self._sink.ended(error)
        elif not self._first.done():
            if error is None:
                self._first.set_result(b"")
            else:
                self._first.set_exception(error)
        else:
            self._end.append(error)

    def _fail(self, error: UpstreamError) -> None:
        if not self.status.done():
            self.status.set_exception(error)
            self._drop()
            return
        self._finish(error)

    def _drop(self, keep: bool = False) -> None:
        """Stop the timer and give the connection back: to be kept (`keep`, for a response
        read to its end: the pool checks), else closed."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._released:
            self._released = True
            if not keep:
                self.connection.abort()
            self.pool.release(self.connection)

    def _error_done(self) -> None:
        if self._error_read is not None and not self._error_read.done():
            self._error_read.set_result(None)
            if self.connection.complete:
                self._drop(keep=True)

    def _check_timeouts(self) -> None:
        """One timer for every bound: the headers' and the first events' (`first_token`),
        the whole exchange's (`total`) and the longest silence between reads while reading
        (a read held back by the client's back-pressure is no silence)."""
        self._timer = None
        if self._released:
            return
        now = self.loop.time()
        expired = self._expired(now)
        if expired is not None:
            self._fail(upstream_timeout(self.name, expired))
            return
        due = min(self._first_due if not self._first.done() else math.inf, self._deadline)
        if not self.status.done():
            due = min(due, self._head_due)
        elif self._error_body is None:
            due = min(due, (self._last_read if self.connection.reading else now) + self._gap)
        self._timer = self.loop.call_at(due, self._check_timeouts)

    def _expired(self, now: float) -> str | None:
        if not self.status.done():
            if now >= self._head_due:
                return "no response headers in time"
        elif now >= self._first_due and not self._first.done():
            return "no first event in time"
        if now >= self._deadline:
            return self.too_long
        reading = self.connection.reading and self._error_body is None and self.status.done()
        if reading and now - self._last_read >= self._gap:
            return self.too_quiet
        return None


Answer = TypeVar("Answer", bound=DirectStream)


@functools.lru_cache(maxsize=64)
def _path(url: str) -> str:
    return request_path(url)


async def open_direct(
    provider: HttpProvider,
    pool: H1Pool,
    url: str,
    payload: bytes,
    call: UpstreamCall,
    client_headers: Mapping[str, str] | None,
    kind: type[Answer] = DirectStream,  # type: ignore[assignment]
) -> Answer:
    """POST `payload` and wait (within `first_token`) for a 200's headers; a non-200 raises
    the provider's mapped error, as `HttpProvider.post` does. `kind` reads the answer."""
    timeouts = call.timeouts or provider.timeouts
    request = pool.request(_path(url), provider.request_headers(call, client_headers), payload)
    started = asyncio.get_running_loop().time()
    stream = await _send(provider, pool, request, timeouts, started, kind)
    status = await stream.status
    if status != 200:
        raw = await stream.error_body(read_gap(timeouts))
        stream.abort()
        raise for_client(provider.error_for(status, raw, stream.headers), call)
    return stream


async def _send(
    provider: HttpProvider,
    pool: H1Pool,
    request: bytes,
    timeouts: Timeouts,
    started: float,
    kind: type[Answer],
) -> Answer:
    """The request written on a pooled connection, its status line come: one the upstream
    had closed while idle is replaced by a new one (once)."""
    for _ in range(2):
        connection = pool.idle_one() or await _connect(provider, pool, timeouts, started)
        stream = kind(provider, pool, connection, timeouts, started)
        connection.send(stream, request)
        try:
            await stream.status
        except _Stale:
            continue
        except BaseException:
            stream.abort()
            raise
        return stream
    raise unreachable(provider.name, "the connection closed before answering")


async def _connect(
    provider: HttpProvider, pool: H1Pool, timeouts: Timeouts, started: float
) -> H1Connection:
    """A new connection (or the next one given back, when the pool is full), within
    `connect` and the headers' `first_token`."""
    due = started + timeouts.first_token
    try:
        async with asyncio.timeout_at(due):
            return await pool.acquire(timeouts.connect)
    except TimeoutError:
        if asyncio.get_running_loop().time() >= due:
            raise upstream_timeout(provider.name, "no response headers in time") from None
        raise unreachable(provider.name, "connection timed out") from None
    except OSError as exc:
        raise unreachable(provider.name, exc.strerror or type(exc).__name__) from None
