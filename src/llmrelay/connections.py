"""Client connections: what no client, authenticated or not, may do to the server.

uvicorn's HTTP protocol, with three guards added:
- a connection must finish a request's headers within `header_timeout` of opening (or of
  that request's first byte on a kept-alive connection), or it is closed: idle and
  trickling sockets cannot pile up;
- past `max_connections` open connections, a new one is answered 503 at once and closed;
- a request's scope carries `ABORT_SCOPE_KEY`, a callable that drops the connection at once
  (a plain close would wait for ever to flush to a client that no longer reads).

And a request's scope carries `WIRE_SCOPE_KEY` (wire/client_wire.py): its socket, for a
pass-through's pump to write the body's chunks to directly, with word of the socket's flow
control and of its loss through the `FlowListener` the pump sets, and of the loss alone to
the request's disconnect watch. A response's head is held until its body's first piece
(`HeadCoalescer`), so a whole answer is one write to the socket.

At start the process's file descriptor limit is raised to its hard limit, and the connection
cap kept to half of it, so upstream sockets, the database and the outbox always find room.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import Callable

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llmrelay.wire.client_wire import WIRE_SCOPE_KEY, ClientWire, FlowListener, HeadCoalescer

log = logging.getLogger("llmrelay.server")

ABORT_SCOPE_KEY = "llmrelay.abort"
ADMITTED_SCOPE_KEY = "llmrelay.admitted"
"""Set on a request a drain serves (shutdown.py): one in flight when the drain began, or the
one whose bytes had come on a kept-alive connection by then."""
FD_HEADROOM = 256
FD_PRESSURE_SHARE = 0.9
"""`/readyz` reports not-ready when this share of the descriptor limit is in use."""


def _busy_response() -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "message": "The relay has as many open connections as it accepts; retry shortly.",
                "type": "server_error",
                "param": None,
                "code": "too_many_connections",
            }
        }
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"retry-after: 1\r\nconnection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


BUSY_RESPONSE = _busy_response()


def guarded_protocol(header_timeout: float, max_connections: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with this module's guards, for `uvicorn.Config(http=)`."""

    class GuardedHttpProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _coalescer: HeadCoalescer | None = None
        _refused = False
        flow_listener: FlowListener | None = None
        lost_callback: Callable[[], None] | None = None
        reading_head = False
        """A request's first bytes have come, its headers not all yet."""
        last_request = False
        """Set by a drain: the request coming is served, with `connection: close`."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections:
                self._refused = True
                self.transport = transport
                transport.write(BUSY_RESPONSE)
                transport.close()
                return
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.reading_head = True
            self._arm_header_timer()
            self.scope[ABORT_SCOPE_KEY] = self.transport.abort  # type: ignore[literal-required]

        def on_headers_complete(self) -> None:
            self.reading_head = False
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().on_headers_complete()
            cycle = self.cycle
            if self.last_request and cycle is not None:
                cycle.keep_alive = False
                cycle.scope[ADMITTED_SCOPE_KEY] = True  # type: ignore[literal-required]
            if cycle is not None and cycle.scope is self.scope:
                self.scope[WIRE_SCOPE_KEY] = ClientWire(self, cycle)  # type: ignore[literal-required]
                coalescer = self._coalescer
                if coalescer is None:
                    coalescer = self._coalescer = HeadCoalescer(self.transport, self.loop)
                coalescer.expect_head()
                cycle.transport = coalescer

        def pause_writing(self) -> None:
            super().pause_writing()
            if self.flow_listener is not None:
                self.flow_listener.pause_writing()

        def resume_writing(self) -> None:
            super().resume_writing()
            if self.flow_listener is not None:
                self.flow_listener.resume_writing()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            if self._refused:
                return
            super().connection_lost(exc)
            listener, self.flow_listener = self.flow_listener, None
            if listener is not None:
                listener.client_lost()
            lost, self.lost_callback = self.lost_callback, None
            if lost is not None:
                lost()

        def close_after_response(self) -> None:
            """Close the connection once the response under way has ended, its last bytes
            and the FIN in one segment (`HeadCoalescer.closing`)."""
            if self._coalescer is not None:
                self._coalescer.closing = True
            self.shutdown()

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_late)

        def _headers_late(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.abort()

    return GuardedHttpProtocol


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the file descriptor limit from %d: %s", soft, exc)
    return soft


def connection_cap(configured: int, fd_limit: int) -> int:
    """`configured`, lowered to half the descriptors left after the process's own."""
    cap = max(1, min(configured, (fd_limit - FD_HEADROOM) // 2))
    if cap < configured:
        log.info(
            "accepting at most %d client connections (half of the file descriptor limit %d)",
            cap,
            fd_limit,
        )
    return cap


def fd_pressure() -> str | None:
    """A problem to report when most file descriptors are in use (None: all is well)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
    if soft != resource.RLIM_INFINITY and used >= soft * FD_PRESSURE_SHARE:
        return f"file descriptors: {used} of {soft} in use"
    return None
