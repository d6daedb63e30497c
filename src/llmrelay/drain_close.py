"""How a drain closes the client connections it finds open (shutdown.py, step 1;
docs/deploy.md, "Reload and drain").

A client that keeps connections alive to the relay, as nginx does to its replicas (`keepalive`
in its upstream block), may send its next request on a connection at the very moment the relay
closes it (RFC 9112, section 9.5). Such a request gets no answer, and nginx does not send a
POST on to another replica once it has sent it (RFC 9110, section 9.2.2): its client would get
a 502. So the drain closes each connection in a way that leaves no request sent on it
unanswered:

- busy with a request: the request is served, and the connection closed after it, the
  answer's last bytes and the FIN in one TCP segment, so that the client sees both at once
  and keeps no connection to reuse (`HeadCoalescer.closing`);
- a request's bytes have come, in whole or in part: it was sent before the drain began, and
  is served, with `connection: close`;
- idle: reset (RST) rather than ended (FIN), so that a client that takes the connection up
  again finds the reset waiting on the socket before it sends; nginx checks the socket's
  error then (`SO_ERROR`) and sends the request to another replica, where after a FIN it
  would have sent it here. The reset comes once nothing it could lose is left: every byte
  sent to a peer on this machine has reached it; a peer elsewhere must have acknowledged
  them (milliseconds; a second at most), and a request that comes meanwhile is served,
  with `connection: close`.

Where the socket's queues cannot be read (not Linux), an idle connection is simply closed.
"""

from __future__ import annotations

import array
import asyncio
import ctypes
import fcntl
import ipaddress
import socket
import struct
import sys
import termios
import time
from typing import Any

from llmrelay.connections import ADMITTED_SCOPE_KEY

ACK_POLL_SECONDS = 0.005
ACK_WAIT_SECONDS = 1.0
"""How long an idle connection is kept for its peer to acknowledge what was sent on it."""
UNSENT = 0x894B
"""SIOCOUTQNSD (Linux's linux/sockios.h): bytes written to a TCP socket not sent yet."""
RESET_ON_CLOSE = struct.pack("ii", 1, 0)
"""SO_LINGER on, with no time: closing the socket resets the connection (RST)."""


def close_for_drain(connection: Any) -> None:
    """Close one of uvicorn's connections (the relay's `GuardedHttpProtocol`) as the module
    says."""
    cycle = connection.cycle
    if connection.transport.is_closing():
        return
    if cycle is not None and not cycle.response_complete:
        cycle.scope[ADMITTED_SCOPE_KEY] = True  # in flight: served (drain.py)
        connection.close_after_response()
    else:
        _close_idle(connection, time.monotonic() + ACK_WAIT_SECONDS)


def awaited(connection: Any) -> bool:
    """A connection the drain left a request to, which has not begun yet (or one kept for
    its peer's acknowledgement)."""
    return connection.last_request and _idle(connection) and not connection.transport.is_closing()


def _idle(connection: Any) -> bool:
    cycle = connection.cycle
    return cycle is None or cycle.response_complete


def _close_idle(connection: Any, deadline: float) -> None:
    transport = connection.transport
    if transport.is_closing() or not _idle(connection):
        return  # closed, or a request came meanwhile: served, and closed after it
    if connection.reading_head or _queued(transport, termios.FIONREAD) > 0:
        connection.last_request = True
        return
    if sys.platform != "linux":
        connection.shutdown()
        return
    unacknowledged = transport.get_write_buffer_size() + _queued(transport, termios.TIOCOUTQ)
    if unacknowledged == 0 or _delivered(transport):
        _reset(transport.get_extra_info("socket"))
        connection.shutdown()
    elif unacknowledged > 0 and time.monotonic() < deadline:
        connection.last_request = True  # a request sent meanwhile is served
        loop = asyncio.get_running_loop()
        loop.call_later(ACK_POLL_SECONDS, _close_idle, connection, deadline)
    else:
        connection.shutdown()


def _delivered(transport: Any) -> bool:
    """Everything written has left, to a peer on this machine: over loopback, a segment
    sent is in the peer's socket at once, and a reset loses none of it."""
    peer = transport.get_extra_info("peername")
    try:
        local = ipaddress.ip_address(peer[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False
    return local and not transport.get_write_buffer_size() and _queued(transport, UNSENT) == 0


class _Unspecified(ctypes.Structure):
    """A `struct sockaddr` of family AF_UNSPEC."""

    _fields_ = [("sa_family", ctypes.c_ushort), ("sa_data", ctypes.c_char * 14)]


_libc = ctypes.CDLL(None, use_errno=True)


def _reset(sock: Any) -> None:
    """Reset the connection now. The event loop closes a socket only on its next turn, and a
    request that came in between would be lost with it; so the connection is dissolved at
    once, by connect(2) to an AF_UNSPEC address (which sends the RST on Linux), and the
    socket is set to reset when closed as well (SO_LINGER), should that fail."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
    address = _Unspecified(socket.AF_UNSPEC)
    _libc.connect(sock.fileno(), ctypes.byref(address), ctypes.sizeof(address))


def _queued(transport: Any, question: int) -> int:
    """Bytes queued on the transport's socket (`FIONREAD`: to read; `TIOCOUTQ`, which is
    SIOCOUTQ on a TCP socket: sent or not, not yet acknowledged); -1 when it cannot be
    asked."""
    sock = transport.get_extra_info("socket")
    count = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), question, count)
    except (AttributeError, OSError):
        return -1
    return count[0]
