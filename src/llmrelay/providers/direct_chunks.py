"""A translated stream on the relay's own HTTP/1.1 client: each upstream read's events turned
into chat chunks by the vendor's `EventTranslator`, from the connection's read callback.

`SSEChunkStream` (http_upstream) does the same work through aiohttp, an async generator and
a task wake-up per read; here the chunks go straight to a `ChunkSink` (the client-side pump,
`wire/pump.py`), which encodes them in the door's protocol and writes them to the client's
socket. Until a sink takes the stream, the chunks are held: `prime` waits, within
`first_token`, for the first one that carries a token, as `wire.stream.PrimedStream` does,
so a deployment that accepts and then says nothing can still be swapped for another.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from llmrelay.protocol.errors import RelayError, internal_error
from llmrelay.providers.base import UpstreamCall, UpstreamError, carries_token, upstream_timeout
from llmrelay.providers.direct_stream import DirectStream, open_direct
from llmrelay.providers.http_upstream import (
    EventTranslator,
    HttpProvider,
    SSEChunkStream,
    for_client,
)
from llmrelay.providers.sse_reader import split_events

log = logging.getLogger("llmrelay.stream")

Chunks = list[dict[str, Any]]


class ChunkSink(Protocol):
    def batch(self, chunks: Chunks) -> None:
        """The chunks one upstream read brought (never empty)."""

    def ended(self, error: RelayError | None) -> None:
        """The stream ended: cleanly (None) or cut by `error`."""


class DirectChunks:
    """A `DirectStream` read as chat chunks: the `EventSink` of the upstream connection."""

    def __init__(self, stream: DirectStream, translator: EventTranslator, call: UpstreamCall):
        self.stream = stream
        self.translator = translator
        self.call = call
        self.name = stream.name
        self.loop = stream.loop
        self.first_batch: Chunks = []
        """What arrived up to the first token (the router looks for a content filter's bare
        refusal there), held for the sink."""
        self._sink: ChunkSink | None = None
        self._end: list[RelayError | None] = []
        self._token: asyncio.Future[None] | None = None
        self._over = False

    async def prime(self, first_token: float, provider: str) -> None:
        """Read, within `first_token`, up to the first chunk that carries a token, or the
        end; the upstream is paused there until the pump takes the stream."""
        self._token = self.loop.create_future()
        self.stream.take(self)
        if not self._end and not carries_token(self.first_batch):
            try:
                async with asyncio.timeout(first_token):
                    await self._token
            except TimeoutError:
                raise upstream_timeout(provider, "no first token in time") from None
        if self._end and self._end[0] is not None and not carries_token(self.first_batch):
            raise self._end[0]  # before any token: the router may try another deployment

    def start(self, sink: ChunkSink) -> None:
        """From now on chunks go to `sink` (reads stay paused until `resume`)."""
        self._sink = sink
        if self.first_batch:
            sink.batch(self.first_batch)
        if self._end:
            sink.ended(self._end[0])

    def pause(self) -> None:
        self.stream.pause()

    def resume(self) -> None:
        self.stream.resume()

    def abort(self) -> None:
        self.stream.abort()

    async def aclose(self) -> None:
        self.stream.abort()

    # -- EventSink: the upstream connection's side ---------------------------------------

    def events(self, events: bytes) -> None:
        translator = self.translator
        if translator.done or self._over:
            return  # what follows the vendor's end event is read only to keep the connection
        batch: Chunks = []
        error: RelayError | None = None
        try:
            for event in split_events(events)[0]:
                batch.extend(translator.translate(event))
                if translator.done:
                    break
        except UpstreamError as exc:  # what came before it in this read still goes out
            error = for_client(exc, self.call)
        except Exception:  # an upstream shape no translator expected: still end cleanly
            log.exception("stream %s failed", self.call.request_id)
            error = internal_error()
        if batch:
            self._deliver(batch)
        if error is not None:
            self.stream.abort()
            self._finish(error)

    def ended(self, error: UpstreamError | None) -> None:
        if self._over:
            return
        if self.translator.done:
            error = None  # after the vendor's end event a broken tail loses nothing
        if error is None:
            try:
                final = self.translator.finish()
            except UpstreamError as exc:  # it ended before the vendor's end event
                error = exc
            else:
                if final:
                    self._deliver(final)
        self._finish(error)

    # -- inside ----------------------------------------------------------------------------

    def _deliver(self, batch: Chunks) -> None:
        sink = self._sink
        if sink is not None:
            sink.batch(batch)
            return
        self.first_batch.extend(batch)
        if carries_token(batch):
            self.stream.pause()  # the rest waits for the pump
            self._wake()

    def _finish(self, error: RelayError | None) -> None:
        self._over = True
        if self._sink is not None:
            self._sink.ended(error)
        else:
            self._end.append(error)
            self._wake()

    def _wake(self) -> None:
        token = self._token
        if token is not None and not token.done():
            token.set_result(None)


async def open_chunks(
    provider: HttpProvider,
    url: str,
    payload: bytes,
    call: UpstreamCall,
    translator: EventTranslator,
) -> SSEChunkStream | DirectChunks:
    """The upstream's stream read as chat chunks, once it accepted the request: on the
    relay's own client when the caller pumps it to the client's socket (`call.direct`) and
    the provider has a pool for it, else through aiohttp."""
    if call.direct and provider.pool is not None:
        stream = await open_direct(provider, provider.pool, url, payload, call, None)
        return DirectChunks(stream, translator, call)
    response = await provider.post(url, payload, call)
    return SSEChunkStream(provider, response, translator, call)
