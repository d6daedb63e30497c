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
        return cycle.transport  # type: ignore[no-any-return]

    def close_body(self) -> None:
        self.protocol.flow_listener = None

    def watch(self, lost: Callable[[], None] | None) -> None:
        """Call `lost` when the client connection closes (None: no longer)."""
        self.protocol.lost_callback = lost
