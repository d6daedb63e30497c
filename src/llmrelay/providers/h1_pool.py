"""A provider's pool of kept-alive HTTP/1.1 connections for pass-through streams.

At most `limit` connections are open at once (the provider's `max_connections`); a request
that finds none idle and the pool full waits for one. A connection goes back to the pool
only when its response was read to its end (`H1Connection.reusable`); one idle for
`KEEPALIVE_SECONDS` is closed, as aiohttp's pool does. `https` base URLs are spoken over TLS
with the system's trust store (`ssl.create_default_context()`, which honours
`SSL_CERT_FILE`), offering only `http/1.1` by ALPN, as the relay's aiohttp session does.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import yarl

from llmrelay.providers.h1_connection import H1Connection

KEEPALIVE_SECONDS = 60.0
FRAMING_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "expect"}
)
"""Headers the pool writes itself (or never): an operator's header by one of these names, or
an `accept-encoding` (a compressed stream), keeps a provider on the aiohttp path."""

_BREAKS = re.compile(r"[\r\n\x00]")
_tls: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        context = ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        _tls = context
    return _tls


@dataclass(frozen=True, slots=True)
class Origin:
    host: str
    port: int
    tls: bool
    host_header: str

    @property
    def server_hostname(self) -> str | None:
        return self.host.rstrip(".") if self.tls else None


def origin_of(url: str) -> Origin | None:
    """Where `url` is served, if the pool can speak to it (http or https, no user info)."""
    parsed = yarl.URL(url)
    if parsed.scheme not in ("http", "https") or parsed.user or not parsed.raw_host:
        return None
    host = parsed.raw_host
    shown = f"[{host}]" if ":" in host else host
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    header = shown if parsed.is_default_port() else f"{shown}:{port}"
    return Origin(host, port, parsed.scheme == "https", header)


def request_path(url: str) -> str:
    return yarl.URL(url).raw_path_qs


def pool_for(base_url: str, headers: Mapping[str, str], limit: int) -> H1Pool | None:
    """A pool for a provider's pass-through streams, or None where it cannot apply (then
    they go through aiohttp, as every other request does). `headers` are the provider's."""
    names = {name.lower() for name in headers}
    if names & FRAMING_HEADERS or "accept-encoding" in names:
        return None
    if any(_BREAKS.search(text) for pair in headers.items() for text in pair):
        return None  # aiohttp refuses such a header: it says so there
    origin = origin_of(base_url)
    return H1Pool(origin, limit) if origin is not None else None


class H1Pool:
    def __init__(self, origin: Origin, limit: int) -> None:
        self.origin = origin
        self.limit = max(1, limit)
        self.idle: deque[H1Connection] = deque()
        self.opened = 0
        """Connections open or being opened, idle ones included."""
        self.in_use = 0
        self.closed = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        self._ssl = tls_context() if origin.tls else None
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop the pool's connections live on (known from the first acquire)."""

    def request(self, path: str, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
        """A POST of `body` to `path`, with `headers` (none of `FRAMING_HEADERS`)."""
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.origin.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        head = "\r\n".join(lines).encode()
        return head + body

    async def acquire(self, connect_timeout: float) -> H1Connection:
        """An idle connection, else a new one (within `connect_timeout`), else the next one
        given back. Raises OSError or TimeoutError when the upstream cannot be reached."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        while True:
            connection = self.idle_one()
            if connection is not None:
                return connection
            if self.opened < self.limit:
                break
            await self._wait()
        self.opened += 1
        try:
            async with asyncio.timeout(connect_timeout):
                connection = await self._connect()
        except BaseException:
            self.opened -= 1
            self._wake()
            raise
        connection.counted = True
        if self.closed:
            connection.abort()
            raise ConnectionError("the pool is closed")
        self.in_use += 1
        return connection

    async def _connect(self) -> H1Connection:
        assert self.loop is not None
        origin = self.origin
        _, connection = await self.loop.create_connection(
            lambda: H1Connection(self),
            origin.host,
            origin.port,
            ssl=self._ssl,
            server_hostname=origin.server_hostname,
        )
        return connection

    def idle_one(self) -> H1Connection | None:
        """An idle connection, lent out at once (None: none is idle)."""
        while self.idle:
            connection = self.idle.pop()  # the most recently used: the likeliest alive
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                self.in_use += 1
                return connection
        return None

    async def _wait(self) -> None:
        assert self.loop is not None
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # woken, then cancelled: the turn goes to the next one
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def release(self, connection: H1Connection) -> None:
        """Give a connection back: kept if its response was read to its end, else closed."""
        self.in_use -= 1
        connection.handler = None
        if connection.reusable and not self.closed:
            connection.reused = True
            connection.resume()
            assert self.loop is not None
            connection.idle_since = self.loop.time()
            self.idle.append(connection)
            if self._sweep is None:
                self._arm_sweep(connection.idle_since)
        else:
            connection.abort()
        self._wake()

    def forget(self, connection: H1Connection) -> None:
        """A connection closed (by either side)."""
        if connection.counted:
            connection.counted = False
            self.opened -= 1
            if connection in self.idle:
                self.idle.remove(connection)
            self._wake()

    def _arm_sweep(self, since: float) -> None:
        assert self.loop is not None
        self._sweep = self.loop.call_at(since + KEEPALIVE_SECONDS, self._close_stale)

    def _close_stale(self) -> None:
        self._sweep = None
        assert self.loop is not None
        now = self.loop.time()
        while self.idle and now - self.idle[0].idle_since >= KEEPALIVE_SECONDS:
            self.idle.popleft().abort()
        if self.idle:
            self._arm_sweep(self.idle[0].idle_since)

    def close(self) -> None:
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        while self.idle:
            self.idle.pop().abort()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionError("the pool is closed"))
        self._waiters.clear()
