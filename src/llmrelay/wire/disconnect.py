"""Noticing that a client went away, or stopped reading, while its request runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from llmrelay.metering.exchange import Exchange
from llmrelay.wire.client_wire import ClientWire

WATCH_AFTER_SECONDS = 0.02
"""Requests that finish sooner never pay for a watcher task (most relayed calls do)."""


@contextlib.asynccontextmanager
async def cancel_on_disconnect(
    receive: Any,
    exchange: Exchange,
    abort: Callable[[], None] | None,
    wire: ClientWire | None = None,
) -> AsyncIterator[Callable[[str], None]]:
    """Cancel the work (and so the upstream call) the moment the client goes away.

    Under the relay's own server protocol (`wire`), the connection's loss is heard from it
    directly. Elsewhere a watcher task waits on `receive()`; it starts only once the request
    has run for `WATCH_AFTER_SECONDS`, and a client that left before then is noticed at that
    moment, since `receive()` then answers at once.
    Yields `abandon(code)`: give up on a client that is there but no longer reading (its
    connection is aborted, which is then heard as a disconnect).
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    watcher: asyncio.Task[None] | None = None

    def cancel() -> None:
        if not exchange.finished:
            exchange.disconnected()
            task.cancel()

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                cancel()
                return

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    def abandon(code: str) -> None:
        exchange.error_code = code
        if abort is not None:
            abort()  # the server then tells the watcher the client is gone
        else:
            cancel()

    timer: asyncio.TimerHandle | None = None
    if wire is None:
        timer = loop.call_later(WATCH_AFTER_SECONDS, start_watching)
    elif wire.gone:
        loop.call_soon(cancel)
    else:
        wire.watch(cancel)
    try:
        yield abandon
    except asyncio.CancelledError:
        if not exchange.client_disconnected:
            raise
        task.uncancel()
    finally:
        if timer is not None:
            timer.cancel()
        if wire is not None:
            wire.watch(None)
        if watcher is not None:
            watcher.cancel()
