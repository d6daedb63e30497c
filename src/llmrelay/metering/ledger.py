"""The usage ledger: one record per request, durable the moment the response ends.

`record` appends the record to this process's outbox segment with a single `write(2)`: from
then on it survives the process being killed. Twice a second the segment is rotated, and the
ledger writer process (`llmrelay.metering.writer`) moves rotated segments into the database,
so no database work ever runs in the relay's process. On start the writer also drains
segments left behind by a process that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from llmrelay.metering.outbox import Segment
from llmrelay.metering.writer import DATABASE_URL_ENV

log = logging.getLogger("llmrelay.ledger")


ENDPOINTS = ("chat", "messages", "responses", "embeddings", "completions")
"""The doors a request can come in by: the values of a ledger record's `endpoint`."""


@dataclass(slots=True)
class UsageRecord:
    request_id: str
    created_at: float
    key_id: str | None
    key_name: str | None
    model: str | None
    provider: str | None
    upstream_model: str | None
    stream: bool
    status: int
    error_code: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    client_disconnected: bool = False
    usage_estimated: bool = False
    cost_usd: float = 0.0
    endpoint: str = "chat"
    """The door the request came in by: chat, messages, responses, embeddings, completions."""
    client_ip: str | None = None
    """The client's address: the socket peer's, or behind `server.trusted_proxies` the one
    the proxies forwarded (wire/forwarded.py)."""
    account_id: str | None = None
    """The account the key belonged to: its budget or prepaid balance paid for this."""


class Ledger:
    def __init__(
        self,
        outbox_dir: Path,
        database_url: str,
        rotate_seconds: float = 0.5,
        run_writer: bool = True,
    ) -> None:
        """`run_writer`: start (and restart) the ledger writer; a machine's workers leave
        that to their supervisor, which runs one for all of them."""
        self.outbox_dir = outbox_dir
        self.run_writer = run_writer
        self.database_url = database_url
        self.rotate_seconds = rotate_seconds
        self._instance = secrets.token_hex(6)
        self._number = 0
        self._segment: Segment | None = None
        self._rotator: asyncio.Task[None] | None = None
        self._writer: asyncio.subprocess.Process | None = None

    def _next_segment(self) -> Segment:
        self._number += 1
        return Segment(self.outbox_dir, self._instance, self._number)

    async def start(self) -> None:
        self.outbox_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._segment = self._next_segment()
        await self._start_writer()
        self._rotator = asyncio.create_task(self._rotate_forever(), name="ledger-rotate")

    def record(self, record: UsageRecord) -> None:
        """Durably append one record (a single write; fine on the event loop)."""
        assert self._segment is not None, "Ledger.record before start()"
        self._segment.append(orjson.dumps(record) + b"\n")

    def rotate(self) -> None:
        """Hand the current segment to the writer (if it holds anything)."""
        segment = self._segment
        if segment is not None and segment.count:
            self._segment = self._next_segment()
            segment.close()

    async def _start_writer(self, *flags: str) -> None:
        if self.run_writer:
            self._writer = await start_writer(self.outbox_dir, self.database_url, *flags)

    async def _rotate_forever(self) -> None:
        while True:
            await asyncio.sleep(self.rotate_seconds)
            try:
                self.rotate()
                if self._writer is not None and self._writer.returncode is not None:
                    log.warning("ledger writer exited (%s); restarting", self._writer.returncode)
                    await self._start_writer()
            except Exception:  # never let the rotation stop: records would pile up unseen
                log.exception("ledger rotation failed; retrying")

    async def close(self) -> None:
        if self._rotator is not None:
            self._rotator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rotator
        if self._segment is not None:
            self._segment.close()
            self._segment = None
        if self._writer is None:
            return
        if self._writer.returncode is None:
            self._writer.terminate()  # it drains once more, the last segment included
            await self._wait_writer()
        if self._left_behind():  # it was signalled with the relay (a process group's
            await self._start_writer("--once")  # SIGTERM) and went first: one last pass
            await self._wait_writer()

    def _left_behind(self) -> bool:
        """Whether a segment of this process is still in the outbox."""
        return any(self.outbox_dir.glob(f"outbox-{self._instance}-*.jsonl"))

    async def _wait_writer(self) -> None:
        writer = self._writer
        assert writer is not None
        try:
            await asyncio.wait_for(writer.wait(), timeout=30)
        except TimeoutError:
            writer.kill()


async def start_writer(outbox: Path, database_url: str, *flags: str) -> asyncio.subprocess.Process:
    """The ledger writer process, draining `outbox` while this process lives (`--once`: one
    pass, then it exits)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "llmrelay.metering.writer",
        "--outbox",
        str(outbox),
        "--parent",
        str(os.getpid()),
        *flags,
        env={**os.environ, DATABASE_URL_ENV: database_url},
        stdin=asyncio.subprocess.DEVNULL,
    )
