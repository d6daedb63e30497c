"""The usage ledger: one record per request, durable the moment the response ends.

A record is first appended to an outbox file with one `write(2)`: from then on it survives
the process being killed. A background task moves outbox records into the database in
batches (one transaction per batch, off the event loop) and deletes each outbox segment once
its rows are committed. On start, segments left by a dead process are replayed; the ledger's
unique `request_id` makes a replay after a crash between commit and delete harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from llmrelay.store.usage import UsageStore

log = logging.getLogger("llmrelay.ledger")


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


class _Segment:
    """One outbox file, held under an exclusive lock while this process writes it."""

    def __init__(self, directory: Path, instance: str, number: int) -> None:
        self.path = directory / f"outbox-{instance}-{number:08d}.jsonl"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.records: list[dict[str, Any]] = []

    def append(self, record: dict[str, Any]) -> None:
        os.write(self.fd, orjson.dumps(record) + b"\n")
        self.records.append(record)

    def close(self) -> None:
        os.close(self.fd)


def _read_segment(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            log.warning("skipping a torn line in %s", path.name)
    return records


class Ledger:
    def __init__(self, store: UsageStore, outbox_dir: Path, flush_seconds: float = 0.5) -> None:
        self.store = store
        self.outbox_dir = outbox_dir
        self.flush_seconds = flush_seconds
        self._instance = secrets.token_hex(6)
        self._number = 0
        self._segment: _Segment | None = None
        self._unsaved: list[_Segment] = []
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    def _next_segment(self) -> _Segment:
        self._number += 1
        return _Segment(self.outbox_dir, self._instance, self._number)

    async def start(self) -> None:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._replay_orphans)
        self._segment = self._next_segment()
        self._task = asyncio.create_task(self._flush_forever(), name="ledger-flush")

    def record(self, record: UsageRecord) -> None:
        """Durably append one record (a single write; safe to call on the event loop)."""
        assert self._segment is not None, "Ledger.record before start()"
        self._segment.append(asdict(record))

    async def flush(self) -> None:
        """Move everything recorded so far into the database."""
        async with self._flush_lock:
            segment = self._segment
            if segment is not None and segment.records:
                self._unsaved.append(segment)
                self._segment = self._next_segment()
            while self._unsaved:
                await asyncio.to_thread(self._commit_segment, self._unsaved[0])
                self._unsaved.pop(0)

    def _commit_segment(self, segment: _Segment) -> None:
        self.store.insert_many(segment.records)
        segment.close()
        segment.path.unlink(missing_ok=True)

    def _replay_orphans(self) -> None:
        for path in sorted(self.outbox_dir.glob("outbox-*.jsonl")):
            fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live process owns it
            try:
                records = _read_segment(path)
                if records:
                    self.store.insert_many(records)
                path.unlink(missing_ok=True)
                log.info("replayed %d usage records from %s", len(records), path.name)
            finally:
                os.close(fd)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("ledger flush failed; records stay in the outbox and are retried")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        if self._segment is not None:
            self._segment.close()
            self._segment.path.unlink(missing_ok=True)
            self._segment = None
