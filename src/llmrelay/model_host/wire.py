"""The model host's frames: a 4-byte big-endian length, then one MessagePack map.

A worker sends `Attach` once, then a `Call` per request (its `id` is the worker's own, unique
on that connection) and `Cancel` when it no longer wants an answer: a stream the client left,
or a whole answer whose caller was cancelled. The host sends `Status` whenever its engines'
queues change, and for each call either `Done` (a whole answer), or `Opened`, `Chunks`... and
`Done` (a stream: its chunks as the engine makes them), or `Failed` (before or during a
stream). Several calls run at once on one connection.

The call goes as the relay built it: the whole `UpstreamCall`, its `ChatRequest` with every
parsed field (a translating door's request is not the body re-parsed) and the body as the
client sent it, so the host's provider checks exactly what an embedded one would.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Literal

import msgspec

from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import UpstreamCall, UpstreamError

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30
"""A sanity bound on one frame (both ends are this machine's own processes)."""

Op = Literal["complete", "complete_text", "embed", "open_stream", "open_text_stream"]
"""The provider method a call runs; the last two answer with a stream."""
STREAM_OPS = frozenset({"open_stream", "open_text_stream"})


class Attach(msgspec.Struct, tag="attach"):
    pid: int


class Call(msgspec.Struct, tag="call"):
    id: int
    op: Op
    provider: str
    call: UpstreamCall


class Cancel(msgspec.Struct, tag="cancel"):
    id: int


class Status(msgspec.Struct, tag="status"):
    providers: dict[str, dict[str, Any]]
    """Each hosted provider's `status()`."""
    host: dict[str, Any]
    """The host's pid, and the requests each worker (by pid) has sent."""


class Opened(msgspec.Struct, tag="opened"):
    id: int


class Chunks(msgspec.Struct, tag="chunks"):
    id: int
    chunks: list[dict[str, Any]]


class Done(msgspec.Struct, tag="done"):
    id: int
    result: dict[str, Any] | None = None
    """A whole answer; None at a stream's end."""


class WireError(msgspec.Struct):
    """A `RelayError` (or `UpstreamError`, with its extra fields) as the host raised it."""

    status: int
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    retry_after: float | None = None
    headers: list[tuple[bytes, bytes]] = []
    upstream: bool = False
    upstream_status: int | None = None
    health_failure: bool = True


class Failed(msgspec.Struct, tag="failed"):
    id: int
    error: WireError


ToHost = Attach | Call | Cancel
FromHost = Status | Opened | Chunks | Done | Failed


class Codec:
    """Frames to bytes (with their length) and back, for one side's incoming type."""

    def __init__(self, incoming: Any) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(incoming)

    def encode(self, frame: msgspec.Struct) -> bytearray:
        buffer = bytearray(HEADER.size)
        self._encoder.encode_into(frame, buffer, HEADER.size)
        HEADER.pack_into(buffer, 0, len(buffer) - HEADER.size)
        return buffer

    def decode(self, payload: bytes) -> Any:
        """One frame's MessagePack (without its length)."""
        return self._decoder.decode(payload)

    async def read(self, reader: asyncio.StreamReader) -> Any:
        """The next frame, or None at the end of the connection."""
        try:
            (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
            if size > MAX_FRAME:
                raise msgspec.DecodeError(f"a frame of {size} bytes")
            return self.decode(await reader.readexactly(size))
        except asyncio.IncompleteReadError:
            return None


def wire_error(error: RelayError) -> WireError:
    wire = WireError(
        status=error.status,
        message=error.message,
        type=error.type,
        param=error.param,
        code=error.code,
        retry_after=error.retry_after,
        headers=list(error.extra_headers),
    )
    if isinstance(error, UpstreamError):
        wire.upstream = True
        wire.upstream_status = error.upstream_status
        wire.health_failure = error.health_failure
    return wire


def relay_error(wire: WireError) -> RelayError:
    """The error the host's provider raised, as the same class with the same fields."""
    error: RelayError
    if wire.upstream:
        error = UpstreamError(
            wire.status,
            wire.message,
            type=wire.type,
            code=wire.code,
            param=wire.param,
            retry_after=wire.retry_after,
            upstream_status=wire.upstream_status,
            health_failure=wire.health_failure,
        )
    else:
        error = RelayError(
            wire.status,
            wire.message,
            type=wire.type,
            param=wire.param,
            code=wire.code,
            retry_after=wire.retry_after,
        )
    error.extra_headers = list(wire.headers)
    return error


def host_unavailable(provider: str, why: str) -> UpstreamError:
    """A 503 for a call the host cannot answer (it is down, or gone mid-answer): the router
    treats it as an unreachable upstream (retry elsewhere, fall back)."""
    return UpstreamError(
        503,
        f"The upstream provider '{provider}' could not be reached: the local model host {why}.",
        code="upstream_unreachable",
    )
