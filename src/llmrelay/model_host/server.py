"""The model host's server: the embedded providers, loaded once, behind a Unix socket.

Each connection is one relay worker. Its calls run as tasks on the host's loop, on the same
provider objects whatever worker sent them, so every worker's requests for a model share its
one engine thread and its fair, bounded queue (`providers/engine_worker.py`): the 429
`local_queue_full` counts every worker's waiting requests. A call the worker cancels, and
every call of a worker that went away, is cancelled here: a stream's `aclose` tells the
engine to stop between two tokens, as it does in a relay whose client left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

import msgspec

from llmrelay.model_host.wire import (
    STREAM_OPS,
    Attach,
    Call,
    Cancel,
    Chunks,
    Codec,
    Done,
    Failed,
    Opened,
    Status,
    ToHost,
    host_unavailable,
    wire_error,
)
from llmrelay.protocol.errors import RelayError, internal_error
from llmrelay.providers.base import ChunkStream, Provider

log = logging.getLogger("llmrelay.model_host")

STATUS_EVERY = 0.1
"""Seconds between two looks at the engines' queues (a change is pushed to every worker)."""
MAX_BUFFERED = 64 << 20
"""Bytes waiting for a worker that does not read: past them it is dropped."""
MAX_SOCKET_PATH = 107
"""A Unix socket's path fits in `sun_path` (108 bytes on Linux, unix(7)), with its NUL."""


class HostError(Exception):
    """The host cannot serve (its socket); the message says why."""


class ModelHost:
    """The hosted providers, and the workers connected to them."""

    def __init__(self, providers: dict[str, Provider]) -> None:
        self.providers = providers
        self.connections: set[_Connection] = set()
        self.path: Path | None = None
        self._pushed: Status | None = None
        self._push_soon = False
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # One after another: llama.cpp silences the process's output while it loads.
        for provider in self.providers.values():
            await provider.start()

    async def listen(self, path: Path) -> asyncio.AbstractServer:
        """Serve on `path`, readable and writable by this user only (mode 0600)."""
        claim_socket(path)
        umask = os.umask(0o177)  # no moment when another user could connect
        try:
            server = await asyncio.start_unix_server(self._serve, path=str(path))
        finally:
            os.umask(umask)
        os.chmod(path, 0o600)
        self.path = path
        self._ticker = asyncio.create_task(self._tick(), name="model-host-status")
        return server

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for connection in list(self.connections):
            connection.abandon()
            connection.writer.close()
        for provider in self.providers.values():
            await provider.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def status(self) -> Status:
        workers = {str(c.pid): c.requests for c in self.connections}
        return Status(
            {name: provider.status() for name, provider in self.providers.items()},
            {"pid": os.getpid(), "workers": workers},
        )

    def changed(self) -> None:
        """Push the status soon (once, however many calls changed it meanwhile)."""
        if not self._push_soon:
            self._push_soon = True
            asyncio.get_running_loop().call_soon(self._push)

    def _push(self) -> None:
        self._push_soon = False
        status = self.status()
        if status == self._pushed:
            return
        self._pushed = status
        for connection in self.connections:
            connection.send(status)

    async def _tick(self) -> None:
        """An engine frees its slot on its own thread, after the answer went out: look again
        now and then, not only when a call starts or ends."""
        while True:
            await asyncio.sleep(STATUS_EVERY)
            self._push()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        codec = Codec(ToHost)
        connection = _Connection(self, writer, codec)
        self.connections.add(connection)
        connection.send(self.status())
        try:
            while (frame := await codec.read(reader)) is not None:
                connection.handle(frame)
        except (OSError, msgspec.DecodeError) as exc:
            log.warning("dropped worker %s: %s", connection.pid, exc)
        finally:
            self.connections.discard(connection)
            connection.abandon()
            writer.close()
            self.changed()


class _Connection:
    """One worker: its calls in progress, by the worker's ids."""

    def __init__(self, host: ModelHost, writer: asyncio.StreamWriter, codec: Codec) -> None:
        self.host = host
        self.writer = writer
        self.codec = codec
        self.pid = 0
        self.requests = 0
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def send(self, frame: msgspec.Struct) -> None:
        writer = self.writer
        if writer.is_closing():
            return
        writer.write(self.codec.encode(frame))
        if writer.transport.get_write_buffer_size() > MAX_BUFFERED:
            log.warning("worker %s does not read its answers: dropped", self.pid)
            writer.close()

    def handle(self, frame: Any) -> None:
        if isinstance(frame, Call):
            self.requests += 1
            task = asyncio.create_task(self._run(frame))
            self.tasks[frame.id] = task
            task.add_done_callback(lambda _, i=frame.id: self._finished(i))
            self.host.changed()
        elif isinstance(frame, Cancel):
            task = self.tasks.pop(frame.id, None)
            if task is not None:
                task.cancel()
        elif isinstance(frame, Attach):
            self.pid = frame.pid
            self.host.changed()

    def _finished(self, call_id: int) -> None:
        self.tasks.pop(call_id, None)
        self.host.changed()

    def abandon(self) -> None:
        """The worker left: stop everything it asked for."""
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()

    async def _run(self, frame: Call) -> None:
        provider = self.host.providers.get(frame.provider)
        try:
            if provider is None:
                raise host_unavailable(frame.provider, "does not serve it (another configuration?)")
            method = getattr(provider, frame.op)
            if frame.op in STREAM_OPS:
                await self._stream(frame.id, await method(frame.call))
            else:
                self.send(Done(frame.id, await method(frame.call)))
        except RelayError as error:
            self.send(Failed(frame.id, wire_error(error)))
        except Exception:
            log.exception("request %s failed", frame.call.request_id)
            self.send(Failed(frame.id, wire_error(internal_error())))

    async def _stream(self, call_id: int, stream: ChunkStream) -> None:
        try:
            self.send(Opened(call_id))
            async for batch in stream.batches():
                self.send(Chunks(call_id, batch))
            self.send(Done(call_id))
        finally:  # cancelled too: the engine stops between two tokens
            await stream.aclose()


def claim_socket(path: Path) -> None:
    """Make way for the socket: remove one a dead host left, refuse to take a live one's."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise HostError(f"the socket path is too long for a Unix socket: {path}")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise HostError(f"{path} exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)
            return
    raise HostError(f"another model host is serving on {path}")
