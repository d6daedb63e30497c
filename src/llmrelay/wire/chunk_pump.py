"""A translated stream's pump: the chat chunks of an upstream read (`DirectChunks`) metered,
encoded in the door's protocol and written to the client's socket from the upstream
connection's read callback.

`relay_stream` (wire/stream.py) does the same through an async generator, a task wake-up
and uvicorn's ASGI `send` per read; the socket side (back-pressure, a stalled client, a
client that leaves, pings) is the pass-through's (`wire/pump.py`). The door's end, which may
keep the whole answer first (the Responses door stores it), is sent through `send` once the
upstream is done, as `relay_stream` sends it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmrelay.metering.exchange import Exchange
from llmrelay.metering.meter import StreamMeter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.think_tags import ThinkTagFolder
from llmrelay.providers.direct_chunks import Chunks, DirectChunks
from llmrelay.wire.client_wire import ClientWire
from llmrelay.wire.pump import SocketPump, pumped
from llmrelay.wire.stream import KeepAlive, encoded, end_chunks

if TYPE_CHECKING:
    from llmrelay.doors.base import StreamEncoder


class ChunkPump(SocketPump):
    """The `ChunkSink` of a `DirectChunks`."""

    def __init__(
        self,
        stream: DirectChunks,
        exchange: Exchange,
        keepalive: KeepAlive,
        meter: StreamMeter,
        encoder: StreamEncoder,
        folder: ThinkTagFolder | None,
    ) -> None:
        super().__init__(stream, exchange, keepalive)
        self.chunks = stream
        self.meter = meter
        self.encoder = encoder
        self.folder = folder
        self.opening = encoder.begin()
        """Goes out with the first chunks (only `: ping`s came before)."""

    def begin(self) -> None:
        self._started = True
        self.chunks.start(self)

    def batch(self, chunks: Chunks) -> None:
        try:
            encoder = self.encoder
            body = self.opening + encoded(chunks, self.meter, encoder, self.folder)
            if body:
                self.opening = b""
                self.keepalive.frame = encoder.ping
                self.write(body)
        except Exception:
            self.failed()


async def relay_direct_chunks(
    stream: DirectChunks,
    wire: ClientWire,
    send: object,
    exchange: Exchange,
    meter: StreamMeter,
    encoder: StreamEncoder,
    keepalive: KeepAlive,
    folder: ThinkTagFolder | None = None,
) -> RelayError | None:
    """`relay_stream` for a `DirectChunks`, its chunks written by a `ChunkPump`. The
    response has started (status 200) and ends through `send`."""
    pump = ChunkPump(stream, exchange, keepalive, meter, encoder, folder)
    error = await pumped(pump, wire, exchange, keepalive, meter)
    return await end_chunks(error, pump.opening, send, exchange, meter, encoder)
