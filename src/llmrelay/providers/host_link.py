"""A relay worker's connection to the model host (`model_host/`), shared by the worker's
remote local providers (`local_remote.py`).

It connects when the first of them starts, and again whenever the host comes back (within
`RETRY_MAX` seconds). While there is no host, calls fail at once with a 503, and so do the
calls in progress when it goes away: nobody waits for a host that is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from typing import Any

import msgspec

from llmrelay.model_host.wire import (
    Attach,
    Call,
    Cancel,
    Codec,
    Done,
    Failed,
    FromHost,
    Op,
    Status,
    host_unavailable,
    wire_error,
)
from llmrelay.providers.base import UpstreamCall

log = logging.getLogger("llmrelay.model_host")

RETRY_MIN = 0.05
RETRY_MAX = 1.0
"""Seconds between two tries to reach a host that is not there (doubling up to this)."""

Answer = asyncio.Queue[Any]
"""A call's frames from the host, in order (`Opened`, `Chunks`, `Done`, `Failed`)."""


class HostLink:
    def __init__(self, path: str) -> None:
        self.path = path
        self.codec = Codec(FromHost)
        self.statuses: dict[str, dict[str, Any]] = {}
        """Each hosted provider's status, as the host last pushed it."""
        self.host: dict[str, Any] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, tuple[str, Answer]] = {}
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._users = 0

    @property
    def connected(self) -> bool:
        return self._writer is not None

    def ready(self, provider: str) -> bool:
        return self.connected and bool(self.statuses.get(provider, {}).get("ready"))

    def status_of(self, provider: str, kind: str) -> dict[str, Any]:
        status = {"kind": kind, **self.statuses.get(provider, {})}
        status["ready"] = self.ready(provider)
        status["model_host"] = {"socket": self.path, "connected": self.connected, **self.host}
        return status

    def start(self) -> None:
        self._users += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="model-host-link")

    async def close(self) -> None:
        self._users -= 1
        task = self._task
        if self._users > 0 or task is None:
            return
        self._task = None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def open(self, op: Op, provider: str, call: UpstreamCall) -> tuple[int, Answer]:
        """Send the call; its frames will arrive on the queue returned."""
        writer = self._writer
        if writer is None or writer.is_closing():
            raise host_unavailable(provider, "is not running")
        call_id = next(self._ids)
        writer.write(self.codec.encode(Call(call_id, op, provider, call)))
        answer: Answer = asyncio.Queue()
        self._pending[call_id] = (provider, answer)
        return call_id, answer

    async def first(self, call_id: int, answer: Answer) -> Any:
        """The call's first frame; a caller cancelled meanwhile cancels the call at the host."""
        try:
            return await answer.get()
        except asyncio.CancelledError:
            self.cancel(call_id)
            raise

    def cancel(self, call_id: int) -> None:
        """The answer is no longer wanted: the host stops working on it."""
        if self._pending.pop(call_id, None) is None:
            return  # answered already
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(self.codec.encode(Cancel(call_id)))

    async def _run(self) -> None:
        delay = RETRY_MIN
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self.path)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_MIN
            try:
                await self._session(reader, writer)
            except (OSError, msgspec.DecodeError) as exc:
                log.warning("the model host on %s dropped the connection: %s", self.path, exc)
            finally:
                self._lost(writer)
            await asyncio.sleep(delay)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.codec.encode(Attach(os.getpid())))
        first = await self.codec.read(reader)
        if not isinstance(first, Status):
            return
        self._status(first)
        self._writer = writer
        log.info("connected to the model host on %s", self.path)
        while (frame := await self.codec.read(reader)) is not None:
            self._dispatch(frame)

    def _status(self, frame: Status) -> None:
        self.statuses = frame.providers
        self.host = frame.host

    def _dispatch(self, frame: Any) -> None:
        if isinstance(frame, Status):
            self._status(frame)
            return
        pending = self._pending.get(frame.id)
        if pending is None:
            return  # cancelled meanwhile
        if isinstance(frame, Done | Failed):
            del self._pending[frame.id]
        pending[1].put_nowait(frame)

    def _lost(self, writer: asyncio.StreamWriter) -> None:
        """The host went away: every call in progress fails now (the worker may retry
        elsewhere, or tell its client)."""
        writer.close()
        if self._writer is not None:
            log.warning("lost the model host on %s", self.path)
        self._writer = None
        self.statuses = {}
        self.host = {}
        pending, self._pending = self._pending, {}
        for call_id, (provider, answer) in pending.items():
            error = host_unavailable(provider, "went away during the request")
            answer.put_nowait(Failed(call_id, wire_error(error)))
