"""Draining: what a relay process does between SIGTERM and its exit (docs/deploy.md,
"Reload and drain").

The server (`shutdown.DrainingServer`) calls `begin`, stops accepting connections and
closes the open ones (drain_close.py), admitting the requests that had come, in whole or in
part: those are served. From then on `/readyz` answers 503 `draining`, and any other request
that reaches the app is answered 503 `server_draining` with `connection: close` (`refuse`)
and never served. Requests admitted run on; those still running when
`server.drain_seconds` is up are ended by `cut_all`: a stream with its door's error frame,
billed for what it delivered; a request not answered yet with the 503.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from llmrelay.connections import ADMITTED_SCOPE_KEY
from llmrelay.metering.exchange import Exchange
from llmrelay.protocol.errors import RelayError, server_draining

if TYPE_CHECKING:
    from llmrelay.doors.base import Door

CLOSE = (b"connection", b"close")


class Drain:
    """This process's drain: whether it has begun, and the requests in flight through the
    pipeline (each with its task), for `cut_all`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        """`server.drain_seconds`."""
        self.draining = False
        self.live: dict[str, tuple[Exchange, asyncio.Task[Any]]] = {}

    def begin(self) -> None:
        self.draining = True

    def turns_away(self, scope: dict[str, Any]) -> bool:
        """Whether a request is refused: one that came after the drain began (the server
        admits those that had come before it)."""
        return self.draining and not scope.get(ADMITTED_SCOPE_KEY)

    def enter(self, exchange: Exchange) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.live[exchange.request_id] = (exchange, task)

    def leave(self, exchange: Exchange) -> None:
        self.live.pop(exchange.request_id, None)

    def cut_all(self) -> int:
        """End every request still in flight with `server_draining`: a pumped stream through
        its pump (the door's error frame follows), any other by cancelling its task, which
        the pipeline turns back into the error (`drained`). Returns how many were cut."""
        error = server_draining()
        cut = 0
        for exchange, task in list(self.live.values()):
            if exchange.cut_with is not None:
                continue
            exchange.cut_with = error
            cut += 1
            if exchange.cut is not None:
                exchange.cut(error)
            else:
                task.cancel()
        return cut

    async def refuse(self, door: Door | None, send: Any, request_id: str) -> None:
        """Answer a request that arrived during the drain: 503 `server_draining` in the
        door's shape (OpenAI's elsewhere), and the connection closed after it."""
        error = server_draining()
        if door is not None:
            status, body = door.error_status(error), door.error_body(error)
            headers = list(door.error_headers(error))
        else:
            status, body, headers = error.status, error.json(), error.headers()
        headers += [CLOSE, (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def drained(exchange: Exchange) -> RelayError | None:
    """For an `except asyncio.CancelledError`: the error the drain cut the request with, the
    task's cancellation taken back; None when the cancellation was not the drain's (then
    the caller raises it again)."""
    error = exchange.cut_with
    if error is not None:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()
    return error
