"""Metrics under `llmrelay serve --workers N`: summed over the workers.

`prometheus_client`'s multiprocess mode (https://prometheus.github.io/client_python/multiprocess/):
the supervisor makes a fresh private directory and starts every worker with it as
`PROMETHEUS_MULTIPROC_DIR`; each worker's metrics live in its own files there; a scrape,
whichever worker (or the supervisor's `metrics.port`) answers it, reads and sums them all.
When a worker exits, the supervisor drops its live gauges (`mark_process_dead`): its
counters stay, so totals never go back.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_dir() -> str | None:
    """The directory this process's metrics are kept in, under workers; else None."""
    return os.environ.get(MULTIPROC_ENV)


def summed_registry(directory: str) -> CollectorRegistry:
    """A registry that reads every process's metrics in `directory`, summed."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return registry


class WorkerMetricsDir:
    """The supervisor's side: the directory, a worker's exit, and the clean-up."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="llmrelay-metrics-")  # mode 0700

    def environment(self) -> dict[str, str]:
        return {MULTIPROC_ENV: self.path}

    def worker_exited(self, pid: int) -> None:
        mark_process_dead(pid, self.path)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
