"""A change counter shared by every process using one data directory.

The relay caches API keys in memory; the CLI (another process) may revoke one at any time,
and the revoked key must be refused on the very next request. Each process maps one 8-byte
counter file into memory: reading it per request is a memory load, no syscall, no query.
Whoever changes keys bumps it under a file lock.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path

_COUNTER = struct.Struct("<Q")


class GenerationCounter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < _COUNTER.size:
            os.pwrite(self._fd, bytes(_COUNTER.size), 0)
        self._map = mmap.mmap(self._fd, _COUNTER.size)
        self.remote_changes = 0
        """Changes made on other machines (seen in the database's generation row, or
        announced through Redis), counted here (`store/key_events.py`)."""
        self.announce: Callable[[], None] | None = None
        """Tells other machines of a change made here (set when Redis is configured)."""

    def read(self) -> int:
        return _COUNTER.unpack_from(self._map, 0)[0] + self.remote_changes

    def bump(self) -> int:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            value = _COUNTER.unpack_from(self._map, 0)[0] + 1
            _COUNTER.pack_into(self._map, 0, value)
            self._map.flush()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if self.announce is not None:
            self.announce()
        return value

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
