"""What a process under test costs, read from /proc: CPU time and resident memory.

`/proc/<pid>/stat` utime+stime of the thread-group leader add up every thread of the process
(the event loop, the ledger's flush thread, the llama.cpp worker). `VmRSS` in
`/proc/<pid>/status` counts mapped model weights too, so `RssAnon` (heap and stacks) is
reported beside it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / TICKS_PER_SECOND


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and every process below it (a supervisor's workers, its ledger
    writer), those alive now."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        parent = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
        todo += children.get(current, [])
    return total


@dataclass(frozen=True, slots=True)
class Memory:
    rss_mb: float
    anon_mb: float


def memory(pid: int) -> Memory:
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            values[name] = int(rest.split()[0]) / 1024
    return Memory(values.get("VmRSS", 0.0), values.get("RssAnon", 0.0))


class PeakMemory:
    """Samples a process's memory every `interval` seconds on a thread; keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.start_mb = memory(pid)
        self.peak_rss_mb = self.start_mb.rss_mb
        self.peak_anon_mb = self.start_mb.anon_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sample = memory(self.pid)
            except OSError:
                return
            self.peak_rss_mb = max(self.peak_rss_mb, sample.rss_mb)
            self.peak_anon_mb = max(self.peak_anon_mb, sample.anon_mb)
