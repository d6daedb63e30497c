"""A worker process's place under `llmrelay serve --workers N` (supervisor.py), told by the
environment the supervisor starts it with. A relay started any other way has no role and
does everything itself: listens, runs its ledger writer, keeps its counts in memory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LISTEN_FD_ENV = "LLMRELAY_LISTEN_FD"
"""The listening socket the supervisor opened, inherited by every worker."""
INDEX_ENV = "LLMRELAY_WORKER_INDEX"
BOOK_ENV = "LLMRELAY_MACHINE_BOOK"
"""The supervisor's rate-limit and budget counts (gate/machine_book.py), when there is no
Redis to share them."""


@dataclass(frozen=True, slots=True)
class WorkerRole:
    index: int
    listen_fd: int
    book: Path | None


def worker_role() -> WorkerRole | None:
    fd = os.environ.get(LISTEN_FD_ENV)
    if fd is None:
        return None
    book = os.environ.get(BOOK_ENV)
    return WorkerRole(int(os.environ.get(INDEX_ENV, "0")), int(fd), Path(book) if book else None)


def worker_count(setting: int | Literal["auto"]) -> int:
    """`server.workers` as a number of processes (`auto`: the cores this process may use)."""
    if setting == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    return setting
