"""The ledger's outbox: append-only segment files that make a usage record durable with one
`write(2)`, and the drain that moves finished segments into the database.

A segment is held under an exclusive `flock` while its process appends to it; a segment
nobody holds (rotated, or left by a process that died) is ready to drain. Draining inserts its
records and deletes it; the ledger's unique `request_id` makes a second drain of the same
records (a crash between commit and delete) harmless.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("llmrelay.outbox")


class Segment:
    """One outbox file that this process appends to."""

    def __init__(self, directory: Path, instance: str, number: int) -> None:
        # Created and locked under a name the drain ignores, then renamed into view: a drain
        # can never see (and delete) a segment before its writer holds the lock.
        self.path = directory / f"outbox-{instance}-{number:08d}.jsonl"
        hidden = directory / f".{self.path.name}.new"
        self.fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(hidden, self.path)
        self.count = 0

    def append(self, line: bytes) -> None:
        os.write(self.fd, line)
        self.count += 1

    def close(self) -> None:
        """Release it: from now on a drain may take it."""
        os.close(self.fd)


def read_records(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            log.warning("skipping a torn line in %s", path.name)
    return records


def pending_cost(directory: Path, key_id: str, since: float, field: str = "key_id") -> float:
    """The cost of `key_id`'s records (or an account's, `field="account_id"`) since `since`
    still in the outbox (not yet, or just now, moved into the database): what a database sum
    alone would miss."""
    total = 0.0
    for path in directory.glob("outbox-*.jsonl"):
        try:
            records = read_records(path)
        except FileNotFoundError:
            continue  # drained meanwhile: its records are in the database now
        for record in records:
            if record.get(field) == key_id and record.get("created_at", 0) >= since:
                total += record.get("cost_usd") or 0.0
    return total


def drain(directory: Path, insert_many: Callable[[list[dict[str, Any]]], None]) -> int:
    """Insert and delete every segment no process holds; returns the records moved."""
    moved = 0
    for path in sorted(directory.glob("outbox-*.jsonl")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # another drain took it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # still being written, or being drained elsewhere
        try:
            if not path.exists():
                continue
            records = read_records(path)
            if records:
                insert_many(records)
            path.unlink(missing_ok=True)
            moved += len(records)
        finally:
            os.close(fd)
    return moved
