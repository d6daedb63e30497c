"""A pass-through's pump: the upstream's SSE events written to the client's socket from the
upstream connection's read callbacks.

`relay_raw` (wire/stream.py) moves each upstream read through an async generator, a task
wake-up and uvicorn's ASGI `send`. Here each read that the relay's own client parses
(providers/direct_stream.py) is metered and written to the client's socket at once, in
HTTP/1.1 chunked framing (wire/client_wire.py); the request's task sleeps until the stream
ends, or until an event that carries the protocol's whole answer must be stored first. What
`relay_raw` does, this does too:

- the primed first events go out first; the door's ping keeps a silent stream alive;
- back-pressure: while the client's socket buffer is full, the upstream is not read; a
  client that stays stalled past the write timeout is abandoned (`KeepAlive`'s guard) and
  billed for what was delivered;
- `keep` stores `meter.final` before the event that carries it reaches the client (the
  upstream is paused meanwhile);
- a client that leaves lets go of the upstream at once; a stream cut before the protocol's
  end event ends with the door's error frame (`end_raw`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from llmrelay.metering.exchange import Exchange
from llmrelay.metering.native_meter import NativeStreamMeter
from llmrelay.protocol.errors import RelayError, internal_error
from llmrelay.protocol.usage import Usage
from llmrelay.providers.direct_stream import DirectStream
from llmrelay.providers.native import scrubbed_events
from llmrelay.wire.body import ClientGone
from llmrelay.wire.client_wire import ClientWire
from llmrelay.wire.stream import KeepAlive, end_raw

if TYPE_CHECKING:
    from llmrelay.doors.base import StreamEncoder

log = logging.getLogger("llmrelay.stream")

Keep = Callable[[dict[str, Any]], Awaitable[None]]
KeepFinal = Callable[[], Awaitable[None]]
_CLIENT = 1
"""Reads held because the client's socket is full."""
_KEEP = 2
"""Reads held while the answer is being stored."""


class PumpedStream(Protocol):
    """What a pump drives: a `DirectStream`, or one read as chunks (`DirectChunks`)."""

    loop: asyncio.AbstractEventLoop

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def abort(self) -> None: ...


class SocketPump:
    """The client's side of a pump, and the request's task while it runs: writes each body
    chunk to the client's socket, holds the upstream's reads while the socket is full (its
    `FlowListener`), lets go of the upstream when the client leaves. A subclass is the
    upstream's sink and decides what goes out."""

    def __init__(self, stream: PumpedStream, exchange: Exchange, keepalive: KeepAlive) -> None:
        self.stream = stream
        self.exchange = exchange
        self.keepalive = keepalive
        self.transport: asyncio.WriteTransport | None = None
        self.held: bytes | None = None
        """Events waiting for the answer to be stored."""
        self.done = False
        self.error: RelayError | None = None
        self.gone = False
        self._started = False
        self._blocked = 0
        self._wake: asyncio.Future[None] | None = None

    def begin(self) -> None:
        """Hand what the upstream sent before the pump started to it, and take the stream."""
        raise NotImplementedError

    def ended(self, error: RelayError | None) -> None:
        if not self.done:
            self.done, self.error = True, error
            self._notify()

    def cut(self, error: RelayError) -> None:
        """End the stream now with `error` (a draining server's): the upstream is let go of,
        and the door's error frame follows what was delivered."""
        self.ended(error)
        self.stream.abort()

    def failed(self) -> None:
        """A bug while handling a read, never the client's or the upstream's doing."""
        log.exception("stream %s failed", self.exchange.request_id)
        self.stream.abort()
        self.ended(internal_error())

    def write(self, body: bytes) -> None:
        """One chunk of the body, framed as uvicorn frames it."""
        transport = self.transport
        if self.gone or transport is None:
            return
        if transport.is_closing():
            self.client_lost()
            return
        transport.write(b"%x\r\n%b\r\n" % (len(body), body))
        self.keepalive.last_sent = time.monotonic()

    # -- FlowListener: the client's side -----------------------------------------------

    def pause_writing(self) -> None:
        self.keepalive.sending_since = time.monotonic()
        self._block(_CLIENT)

    def resume_writing(self) -> None:
        self.keepalive.sending_since = None
        self._unblock(_CLIENT)

    def client_lost(self) -> None:
        if not self.gone:
            self.gone = True
            self.stream.abort()
            self._notify()

    # -- the request's task ------------------------------------------------------------

    async def run(self, wire: ClientWire, keep: KeepFinal | None = None) -> RelayError | None:
        """Pump until the stream ends; the error that cut it, if one did. Raises ClientGone
        when the client left."""
        self.transport = wire.open_body(self)
        if self.transport is None:
            raise ClientGone()
        self.exchange.mark_first_token()
        self.keepalive.write = self.write
        self.begin()
        if not self._blocked:
            self.stream.resume()
        loop = self.stream.loop
        while True:
            if self.gone:
                raise ClientGone()
            if self.held is not None:
                assert keep is not None
                await keep()
                held, self.held = self.held, None
                self.write(held)
                self._unblock(_KEEP)
            elif self.done:
                return self.error
            else:
                self._wake = loop.create_future()
                await self._wake

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _block(self, reason: int) -> None:
        if not self._blocked:
            self.stream.pause()
        self._blocked |= reason

    def _unblock(self, reason: int) -> None:
        if self._blocked & reason:
            self._blocked &= ~reason
            if not self._blocked and self._started:
                self.stream.resume()


class Pump(SocketPump):
    """A pass-through's pump: the `EventSink` of a `DirectStream`, its events metered and
    written as they came."""

    def __init__(
        self,
        stream: DirectStream,
        exchange: Exchange,
        meter: NativeStreamMeter,
        keepalive: KeepAlive,
        keeping: bool,
    ) -> None:
        super().__init__(stream, exchange, keepalive)
        self.direct = stream
        self.meter = meter
        self.keeping = keeping
        """The answer is still to be stored (`keep`) when the meter finds it."""

    def begin(self) -> None:
        if self.direct.first:
            self.events(self.direct.first)
        self._started = True
        self.direct.start(self)

    def events(self, events: bytes) -> None:
        if self.meter.marked(events):  # an error or a stop reason may quote a credential
            events = scrubbed_events(self.direct.provider, events)
        if self.held is not None:
            self.held += events
            return
        try:
            meter = self.meter
            meter.feed(events)
            if self.keeping and meter.final is not None:
                self.keeping = False
                self.held = events
                self._block(_KEEP)
                self._notify()
                return
            self.write(events)
        except Exception:
            self.failed()

    def ended(self, error: RelayError | None) -> None:
        if error is not None and self.meter.ended:
            error = None  # after the protocol's end event a broken tail loses nothing
        super().ended(error)


async def relay_direct(
    stream: DirectStream,
    wire: ClientWire,
    send: Any,
    exchange: Exchange,
    meter: NativeStreamMeter,
    encoder: StreamEncoder,
    keepalive: KeepAlive,
    keep: Keep | None = None,
) -> RelayError | None:
    """`relay_raw` for a `DirectStream`, the body's chunks written by a `Pump`. The response
    has started (status 200) and ends through `send`."""
    keepalive.frame = encoder.ping  # the upstream's first events are going out
    pump = Pump(stream, exchange, meter, keepalive, keeping=keep is not None)

    async def keep_final() -> None:
        assert keep is not None and meter.final is not None
        await keep(meter.final)

    error = await pumped(pump, wire, exchange, keepalive, meter, keep_final if keep else None)
    return await end_raw(error, stream.name, send, exchange, meter, encoder)


class Metered(Protocol):
    estimated: bool

    def usage(self) -> Usage: ...


async def pumped(
    pump: SocketPump,
    wire: ClientWire,
    exchange: Exchange,
    keepalive: KeepAlive,
    meter: Metered,
    keep: KeepFinal | None = None,
) -> RelayError | None:
    """Run `pump` to the stream's end and let go of the upstream; the error that cut it, if
    one did (marked on the exchange), with the usage metered so far on the exchange either
    way. Raises ClientGone when the client left: it is billed for what was delivered."""
    error: RelayError | None
    exchange.cut = pump.cut
    try:
        error = await pump.run(wire, keep)
    except RelayError as exc:  # the answer could not be stored
        error = exc
    except ClientGone:
        exchange.disconnected()
        exchange.finished = True
        raise
    except Exception:
        log.exception("stream %s failed", exchange.request_id)
        error = internal_error()
    finally:
        exchange.cut = None
        wire.close_body()
        keepalive.write = None
        await keepalive.stop()
        pump.stream.abort()  # (a stream read to its end has given its connection back)
        exchange.usage = meter.usage()
        exchange.usage_estimated = meter.estimated
    exchange.finished = True
    if error is not None:
        exchange.fail(error)
    return error
