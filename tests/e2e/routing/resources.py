"""The relay's own resources, seen from outside through /proc: its TCP sockets to each mock
(by state), its open file descriptors and its threads.

A socket belongs to the relay when its inode is behind one of `/proc/<pid>/fd`; its state and
peer come from `/proc/<pid>/net/tcp` and `tcp6`. A socket the relay closed is gone from its
fds at once (TIME_WAIT has no owner), so what is counted is exactly what the relay holds.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import RunningRelay, wait_until
from tests.mocks.fault_upstream import FaultUpstream

TCP_STATES = {"01": "ESTABLISHED", "08": "CLOSE_WAIT", "04": "FIN_WAIT1", "05": "FIN_WAIT2"}


@dataclass(frozen=True)
class Holdings:
    """What the relay process holds at one moment."""

    sockets: Counter[tuple[int, str]] = field(default_factory=Counter)
    """(remote port, state) -> how many of the relay's TCP sockets."""
    fds: int = 0
    threads: int = 0

    def to(self, port: int, state: str = "ESTABLISHED") -> int:
        return self.sockets[(port, state)]

    def in_state(self, state: str) -> int:
        return sum(n for (_, s), n in self.sockets.items() if s == state)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.scandir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(fd.path)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_rows(pid: int) -> Iterable[list[str]]:
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{name}")
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                yield line.split()


def holdings(relay: RunningRelay) -> Holdings:
    pid = relay.process.pid
    inodes = _socket_inodes(pid)
    sockets: Counter[tuple[int, str]] = Counter()
    for row in _tcp_rows(pid):
        if row[9] in inodes:
            port = int(row[2].rsplit(":", 1)[1], 16)
            sockets[(port, TCP_STATES.get(row[3], row[3]))] += 1
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(next(ln for ln in status.splitlines() if ln.startswith("Threads:")).split()[1])
    return Holdings(sockets, fds, threads)


def upstream_connections(relay: RunningRelay, mocks: Iterable[FaultUpstream]) -> dict[str, int]:
    """The relay's ESTABLISHED connections to each mock (idle pooled ones included)."""
    held = holdings(relay)
    return {mock.name: held.to(mock.port) for mock in mocks}


def assert_within_pool(
    relay: RunningRelay,
    mocks: Iterable[FaultUpstream],
    bound: dict[str, int],
    timeout: float = 5.0,
) -> Holdings:
    """Wait until the relay holds at most `bound[name]` connections to each mock, and no
    socket it forgot to close (CLOSE_WAIT: the peer, a mock or a client, left and the relay
    never closed its end)."""
    mocks = list(mocks)

    def settled() -> Holdings | None:
        held = holdings(relay)
        over = any(held.to(m.port) > bound.get(m.name, 0) for m in mocks)
        return None if over or held.in_state("CLOSE_WAIT") else held

    try:
        return wait_until(settled, timeout=timeout)
    except AssertionError:
        held = holdings(relay)
        seen = {m.name: {s: n for (p, s), n in held.sockets.items() if p == m.port} for m in mocks}
        half = held.in_state("CLOSE_WAIT")
        raise AssertionError(
            f"the relay holds more than {bound}: {seen}; half-closed sockets: {half}"
        ) from None
