"""The server's side of a drain: SIGTERM ends the process without losing a request
(docs/deploy.md, "Reload and drain"; the app's side is drain.py).

uvicorn's own shutdown closes the listening sockets, closes idle connections at once, then
waits for every connection to close (for ever, or `timeout_graceful_shutdown`) before it
cancels what is left; and once done it raises SIGTERM again, so the process dies of it.
Here the shutdown is uvicorn's, reworked:

1. the listening sockets close (a new connection is refused) and the app's drain begins
   (`/readyz` answers 503 `draining`); each open connection is closed as drain_close.py
   says: the requests that had come, in whole or in part, are served, and idle
   connections are closed at once, so that a balancer keeping connections alive to the
   replica sends its next requests to another one. A request that comes all the same is
   answered 503 `server_draining` with `connection: close` (drain.py);
2. requests in flight run on, up to `server.drain_seconds`;
3. then what still runs is cut (`Drain.cut_all`: a stream ends with its door's error
   frame, billed for what it delivered), and a few seconds later anything left is
   aborted;
4. the remaining connections close, and the app's lifespan ends: providers close and the
   ledger's last segment goes to its writer, which moves it into the database before the
   process exits, with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from types import FrameType

import uvicorn

from llmrelay.drain import Drain
from llmrelay.drain_close import awaited, close_for_drain

log = logging.getLogger("llmrelay.server")

CUT_GRACE_SECONDS = 5.0
"""After the cut, how long requests have to send their last frame and be recorded."""
CLOSE_GRACE_SECONDS = 2.0
"""How long closing connections have to go before they are aborted."""
POLL_SECONDS = 0.05


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining as the module says on SIGTERM (and on a first SIGINT)."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM:
            self.should_exit = True  # drained, the process exits 0 rather than die of it
            return
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        began = time.monotonic()
        drain, state = self.drain, self.server_state
        drain.begin()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(state.connections):
            close_for_drain(connection)
        log.info(
            "draining: %d request(s) in flight, up to %gs (server.drain_seconds)",
            len(state.tasks),
            drain.seconds,
        )
        if not await self._settled(drain.seconds):
            cut = drain.cut_all()
            log.warning("drain time is up: %d stream(s) and request(s) ended", cut)
            if not await self._settled(CUT_GRACE_SECONDS):
                self._abort_all()
                await self._settled(CLOSE_GRACE_SECONDS)
        await self._close_connections()
        log.info("drained in %.1fs", time.monotonic() - began)
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _settled(self, seconds: float) -> bool:
        """Wait up to `seconds` for every request task to end, and for the requests the
        drain let in to come; whether all did."""
        deadline = time.monotonic() + seconds
        while self._unsettled() and not self.force_exit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if tasks := list(self.server_state.tasks):
                await asyncio.wait(
                    tasks, timeout=min(remaining, 0.5), return_when=asyncio.FIRST_COMPLETED
                )
            else:  # a request let in still on its way: no task yet to wait for
                await asyncio.sleep(POLL_SECONDS)
        return not self._unsettled()

    def _unsettled(self) -> bool:
        state = self.server_state
        return bool(state.tasks) or any(awaited(c) for c in state.connections)

    def _abort_all(self) -> None:
        state = self.server_state
        log.error("%d request(s) did not end after the cut; aborting them", len(state.tasks))
        for connection in list(state.connections):
            connection.transport.abort()
        for task in list(state.tasks):
            task.cancel()

    async def _close_connections(self) -> None:
        """Close the (idle) connections left, and wait a little for them to go."""
        connections = self.server_state.connections
        for connection in list(connections):
            connection.shutdown()
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        # uvicorn's state has no event for a connection's loss: look every few milliseconds
        while connections and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(POLL_SECONDS)
        for connection in list(connections):
            connection.transport.abort()
        for server in self.servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), CLOSE_GRACE_SECONDS)
