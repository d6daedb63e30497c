"""Noticing that a client went away, or stopped reading, while its request runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from llmrelay.metering.exchange import Exchange

WATCH_AFTER_SECONDS = 0.02
"""Requests that finish sooner never pay for a watcher task (most relayed calls do)."""


@contextlib.asynccontextmanager
async def cancel_on_disconnect(
    receive: Any, exchange: Exchange, abort: Callable[[], None] | None
) -> AsyncIterator[Callable[[str], None]]:
    """Cancel the work (and so the upstream call) the moment the client goes away.

    The watcher starts only once the request has run for `WATCH_AFTER_SECONDS`; a client that
    left before then is noticed at that moment, since `receive()` then answers at once.
    Yields `abandon(code)`: give up on a client that is there but no longer reading (its
    connection is aborted, which the watcher then sees as a disconnect).
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

    timer = loop.call_later(WATCH_AFTER_SECONDS, start_watching)
    try:
        yield abandon
    except asyncio.CancelledError:
        if not exchange.client_disconnected:
            raise
        task.uncancel()
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
