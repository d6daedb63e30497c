"""A request's client connection, for a pump that writes a response body to it directly.

The relay's uvicorn protocol (`connections.guarded_protocol`) puts a `ClientWire` in each
request's scope under `WIRE_SCOPE_KEY`. The response still starts and ends through ASGI
`send`, so uvicorn's own state for the exchange stays right; in between, a pump may write
the body's chunks (HTTP/1.1 chunked framing, RFC 9112 section 7.1, as uvicorn frames them)
to the socket itself, from the upstream's read callbacks, and hears of the socket's flow
control through a `FlowListener`; and a request hears at once that its client left
(`watch`). Under another server the key is absent, and the body goes through `send` and the
disconnect through `receive` as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any, Protocol

WIRE_SCOPE_KEY = "llmrelay.wire"


class FlowListener(Protocol):
    def pause_writing(self) -> None:
        """The client's socket buffer is full: stop writing until `resume_writing`."""

    def resume_writing(self) -> None:
        """It drained."""

    def client_lost(self) -> None:
        """The client connection closed."""


class ListenedProtocol(Protocol):
    flow_listener: FlowListener | None
    lost_callback: Callable[[], None] | None


class ClientWire:
    """One request's socket, through the uvicorn protocol that serves it and its cycle."""

    __slots__ = ("cycle", "protocol")

    def __init__(self, protocol: ListenedProtocol, cycle: Any) -> None:
        self.protocol = protocol
        self.cycle = cycle

    @property
    def gone(self) -> bool:
        return bool(self.cycle.disconnected) or self.cycle.transport.is_closing()

    def open_body(self, listener: FlowListener) -> asyncio.WriteTransport | None:
        """The socket to write the body's chunks to, once the response started chunked and
        until `close_body`; `listener` hears of its flow control meanwhile. None when it
        cannot be written directly (the client is gone)."""
        cycle = self.cycle
        if self.gone or not cycle.response_started or cycle.response_complete:
            return None
        if not cycle.chunked_encoding:
            raise RuntimeError("a direct body needs a chunked response")
        self.protocol.flow_listener = listener
        if cycle.flow.write_paused:
            listener.pause_writing()
        transport = cycle.transport
        if isinstance(transport, HeadCoalescer):
            transport.flush()  # the head first; the body's chunks then to the socket itself
            return transport.transport
        return transport  # type: ignore[no-any-return]

    def close_body(self) -> None:
        self.protocol.flow_listener = None

    def watch(self, lost: Callable[[], None] | None) -> None:
        """Call `lost` when the client connection closes (None: no longer)."""
        self.protocol.lost_callback = lost


class HeadCoalescer:
    """The transport a request's cycle writes its response to: it holds the response's head
    (the cycle's first write) until the body's first piece, so a whole answer leaves in one
    write, one system call, instead of two. A head whose body does not follow in the same
    turn of the event loop (a stream's) goes out at the end of that turn.

    Once `closing` (the connection ends with this response: a drain's), every write is held
    to the end of its turn, and the last ones leave with the connection's FIN in one TCP
    segment (`close`): a client that keeps connections alive reads the end of the answer
    and of the connection at once, and does not take the connection up again for its next
    request."""

    __slots__ = ("_expect", "closing", "held", "loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: bytes | None = None
        self._expect = False
        self.closing = False

    def expect_head(self) -> None:
        """A new request's cycle: its first write is the head."""
        self.flush()
        self._expect = True

    def write(self, data: bytes) -> None:
        held = self.held
        if self._expect or self.closing:
            self._expect = False
            if held is None:
                self.loop.call_soon(self.flush)
            self.held = data if held is None else held + data
            return
        if held is not None:
            self.held = None
            data = held + data
        self.transport.write(data)

    def flush(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        if self.closing and self.held is not None:
            cork(self.transport)
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def cork(transport: asyncio.BaseTransport) -> None:
    """Hold what is written to the transport's socket until it closes, so that the last bytes
    carry the FIN (Linux's TCP_CORK; elsewhere nothing)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_CORK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
