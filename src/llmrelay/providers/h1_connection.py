"""One kept-alive HTTP/1.1 connection to an upstream, its answers parsed by httptools.

A response's body reaches the connection's `ResponseHandler` as each socket read is parsed
(de-chunked by httptools, no task woken in between). The connection may carry another
request only once a response was read to its end and the upstream did not ask to close
(RFC 9112 section 9.3); its pool (`h1_pool`) decides, on `release`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import httptools

if TYPE_CHECKING:
    from llmrelay.providers.h1_pool import H1Pool


class ResponseHandler(Protocol):
    """What one response's bytes go to, from the connection's protocol callbacks."""

    def head(self, status: int, headers: dict[str, str]) -> None:
        """The status line and headers (names in lower case) arrived."""

    def body(self, data: bytes) -> None:
        """A piece of the de-chunked body."""

    def read_end(self) -> None:
        """One socket read is parsed (its body pieces came before; `complete` may be set)."""

    def lost(self, exc: BaseException | None) -> None:
        """The connection closed or broke before the response completed."""


def _ignore(body: bytes) -> None:
    pass


class H1Connection(asyncio.Protocol):
    def __init__(self, pool: H1Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.handler: ResponseHandler | None = None
        self.on_body: Callable[[bytes], None] = _ignore
        """httptools' body callback: the handler's own `body`."""
        self.parser: httptools.HttpResponseParser | None = None
        self.headers: dict[str, str] = {}
        self.complete = False
        """The response in flight was read to its end."""
        self.keep_alive = False
        """And the upstream means to keep the connection (as httptools said at its end)."""
        self.until_close = False
        """Its body has no length nor chunks: it ends when the upstream closes."""
        self.received = False
        """Some byte of the response in flight arrived."""
        self.reused = False
        """It carried a response before this one (an upstream may have closed it since)."""
        self.idle_since = 0.0
        self.reading = True
        self.counted = False
        """Counted in its pool's open connections (until `connection_lost`)."""
        self._interim = False

    # -- the pool's side --------------------------------------------------------------

    def send(self, handler: ResponseHandler, request: bytes) -> None:
        """Write one request; its response goes to `handler`."""
        assert self.transport is not None
        self.handler = handler
        self.on_body = handler.body  # httptools binds it now: a body piece costs one call
        self.parser = httptools.HttpResponseParser(self)
        self.headers = {}
        self.complete = self.until_close = self.received = self.keep_alive = False
        self.resume()
        self.transport.write(request)

    @property
    def reusable(self) -> bool:
        """The response was read to its end and both sides mean to keep the connection."""
        return (
            self.complete
            and self.keep_alive
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def pause(self) -> None:
        if self.reading and self.transport is not None and not self.transport.is_closing():
            self.reading = False
            self.transport.pause_reading()

    def resume(self) -> None:
        if not self.reading and self.transport is not None and not self.transport.is_closing():
            self.reading = True
            self.transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection at once (a response not read to its end cannot be reused)."""
        self.handler = None
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio's side ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        handler = self.handler
        if handler is None or self.parser is None:  # nothing was asked: not one to keep
            self.abort()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.abort()
            handler.read_end()  # what came whole before the fault still goes
            if not self.complete:  # (else only what followed the answer is dropped)
                handler.lost(exc)
            return
        if self.handler is handler:
            handler.read_end()

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        handler, self.handler = self.handler, None
        if handler is not None and not self.complete:
            handler.lost(exc)

    # -- httptools' callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # bytes after the response: the connection is not to be trusted
            raise httptools.HttpParserError("data after the response")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self.parser is not None and self.handler is not None
        headers = self.headers
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (103 Early Hints): the real one follows
            self._interim, self.headers = True, {}
            return
        self.until_close = not chunked and "content-length" not in headers
        self.handler.head(status, headers)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()
