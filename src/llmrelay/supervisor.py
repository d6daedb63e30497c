"""`llmrelay serve --workers N`: one supervisor process, N worker processes on one port.

The supervisor opens the listening socket and does the one-time set-up (the schema, the
first admin key); then it starts the machine's one ledger writer, its rate-limit and budget
counts when there is no Redis (gate/machine_book.py), the model host when an embedded
model is configured (model_host/: the model is loaded once, for every worker), and the
workers. Each worker is a
whole relay (`python -m llmrelay serve`, a fresh interpreter, not a fork) that inherits the
socket and accepts from it; the kernel hands each new connection to one of them. A worker
that dies is started again (after a pause that grows while it keeps dying), the others
serving meanwhile. SIGHUP is passed to every worker; SIGTERM and SIGINT too, and the
supervisor waits for the workers to finish, then stops the writer (which drains the outbox
once more) and exits.

Key changes reach every worker on its next request through the data directory's shared
generation counter (store/generation.py), as they reach a single process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from llmrelay.config import Settings
from llmrelay.gate.machine_book import MachineBookServer
from llmrelay.metering.ledger import start_writer
from llmrelay.model_host import MODEL_HOST_ENV, default_socket
from llmrelay.observe.multiprocess import WorkerMetricsDir
from llmrelay.observe.observer import serve_summed
from llmrelay.providers import HOSTED, used_providers
from llmrelay.worker_role import BOOK_ENV, INDEX_ENV, LISTEN_FD_ENV, worker_count

log = logging.getLogger("llmrelay.supervisor")

RESTART_PAUSE = 0.5
RESTART_PAUSE_MAX = 30.0
STEADY_SECONDS = 30.0
"""A worker that ran this long before dying is restarted at once, its pause reset."""


class Supervisor:
    def __init__(self, settings: Settings, sock: socket.socket, argv: list[str]) -> None:
        self.settings = settings
        self.sock = sock
        self.argv = argv
        """`llmrelay serve`'s arguments, given to every worker."""
        self.count = worker_count(settings.server.workers)
        self.workers: dict[int, asyncio.subprocess.Process] = {}
        self.book: MachineBookServer | None = None
        self.writer: asyncio.subprocess.Process | None = None
        self.model_host: asyncio.subprocess.Process | None = None
        self.host_socket: Path | None = None
        if any(isinstance(settings.providers[name], HOSTED) for name in used_providers(settings)):
            self.host_socket = default_socket(settings.data_path)
        self.stopping = asyncio.Event()
        self.metrics = WorkerMetricsDir()
        """The workers' metrics, summed by whichever process a scrape reaches."""

    async def run(self, on_listening: Callable[[], None]) -> int:
        loop = asyncio.get_running_loop()
        for name in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(name, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._signal_workers, signal.SIGHUP)
        settings = self.settings
        if not settings.server.redis_url:
            self.book = MachineBookServer(settings.data_path / "machine-book.sock")
            await self.book.start()
        if self.host_socket is not None and not await self._start_model_host():
            self.metrics.remove()
            return 1
        keepers = [asyncio.create_task(self._keep_writer(), name="ledger-writer")]
        if self.model_host is not None:
            keepers.append(asyncio.create_task(self._keep_model_host(), name="model-host"))
        keepers += [
            asyncio.create_task(self._keep_worker(index), name=f"worker-{index}")
            for index in range(self.count)
        ]
        metrics_port = None
        if settings.metrics.port is not None:
            metrics_port = serve_summed(settings, self.metrics.path)
        if await asyncio.to_thread(self._wait_answering):
            on_listening()
        await self.stopping.wait()
        self._signal_workers(signal.SIGTERM)
        # The workers stop accepting as they drain; once no process holds the socket, a new
        # connection is refused at once (a balancer tries another replica) rather than left
        # in a backlog nobody reads.
        self.sock.close()
        await asyncio.gather(*keepers, return_exceptions=True)
        if self.book is not None:
            await self.book.close()
        if metrics_port is not None:
            await asyncio.to_thread(metrics_port.shutdown)
            metrics_port.server_close()
        self.metrics.remove()
        return 0

    def stop(self) -> None:
        self.stopping.set()

    def _signal_workers(self, number: int) -> None:
        for process in self.workers.values():
            if process.returncode is None:
                process.send_signal(number)

    def _environment(self, index: int) -> dict[str, str]:
        env = {**os.environ, LISTEN_FD_ENV: str(self.sock.fileno()), INDEX_ENV: str(index)}
        env.update(self.metrics.environment())
        if self.book is not None:
            env[BOOK_ENV] = str(self.book.path)
        if self.host_socket is not None:
            env[MODEL_HOST_ENV] = str(self.host_socket)
        return env

    async def _keep_worker(self, index: int) -> None:
        """Run worker `index` until the supervisor stops, starting it again when it dies."""
        pause = RESTART_PAUSE
        while True:
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "llmrelay",
                "serve",
                *self.argv,
                pass_fds=(self.sock.fileno(),),
                env=self._environment(index),
                stdin=asyncio.subprocess.DEVNULL,
            )
            self.workers[index] = process
            if self.stopping.is_set():  # (told to stop while it started)
                process.terminate()
            code = await process.wait()
            self.metrics.worker_exited(process.pid)
            if self.stopping.is_set():
                return
            pause = RESTART_PAUSE if time.monotonic() - started > STEADY_SECONDS else pause
            log.warning(
                "worker %d (pid %d) exited with %s; starting it again in %.1f s",
                index,
                process.pid,
                code,
                pause,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), pause)
            if self.stopping.is_set():
                return
            pause = min(pause * 2, RESTART_PAUSE_MAX)

    async def _exits_first(self, process: asyncio.subprocess.Process) -> bool:
        """Wait until `process` exits (True) or the supervisor is told to stop (False)."""
        stopped = asyncio.create_task(self.stopping.wait())
        exited = asyncio.create_task(process.wait())
        await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if exited.done():
            return True
        exited.cancel()
        return False

    async def _keep_writer(self) -> None:
        """The machine's one ledger writer, started again if it dies; stopped last, once
        every worker has finished, so it drains what they wrote."""
        outbox = self.settings.data_path / "outbox"
        outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
        while not self.stopping.is_set():
            self.writer = await start_writer(outbox, self.settings.database_url)
            if not await self._exits_first(self.writer):
                break
            log.warning("ledger writer exited (%s); starting it again", self.writer.returncode)
            await asyncio.sleep(RESTART_PAUSE)
        await asyncio.gather(*(process.wait() for process in list(self.workers.values())))
        if self.writer is not None and self.writer.returncode is None:
            self.writer.terminate()  # it drains once more, the workers' last segments included
            await self.writer.wait()
        if any(outbox.glob("outbox-*.jsonl")):  # it was signalled with the supervisor (a
            last = await start_writer(outbox, self.settings.database_url, "--once")  # group's
            await last.wait()  # SIGTERM) and went first: one last pass

    async def _start_model_host(self) -> bool:
        """Start the model host and wait until it serves (its models loaded): False, said in
        the log, when it could not (as a relay whose model cannot load does not start)."""
        assert self.host_socket is not None
        args = [
            arg
            for pair in zip(self.argv[::2], self.argv[1::2], strict=False)
            if pair[0] in ("--config", "--data-dir")
            for arg in pair
        ]
        self.model_host = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "llmrelay.model_host",
            *args,
            "--socket",
            str(self.host_socket),
            stdin=asyncio.subprocess.DEVNULL,
        )
        while self.model_host.returncode is None:
            try:  # it listens once its models are loaded
                _, writer = await asyncio.open_unix_connection(self.host_socket)
            except OSError:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.model_host.wait(), 0.2)
                continue
            writer.close()
            return True
        log.error("the model host exited with %s before it served", self.model_host.returncode)
        return False

    async def _keep_model_host(self) -> None:
        """The model host, started again if it dies (the workers reconnect); stopped once
        every worker has finished."""
        while True:
            assert self.model_host is not None
            if not await self._exits_first(self.model_host):
                break
            log.warning("the model host exited (%s); starting it again", self.model_host.returncode)
            await asyncio.sleep(RESTART_PAUSE)
            if self.stopping.is_set() or not await self._start_model_host():
                return
        await asyncio.gather(*(process.wait() for process in list(self.workers.values())))
        if self.model_host.returncode is None:
            self.model_host.terminate()
            await self.model_host.wait()

    def _wait_answering(self, timeout: float = 300.0) -> bool:
        """Whether a worker answers `/healthz` (the model load may take a while)."""
        host = self.settings.server.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{self.settings.server.port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False
