"""The gauges that are state, not events: requests and streams in flight, each deployment's
breaker, the ledger's backlog, the embedded models' queues.

They are read from what the process holds already (the drain's requests in flight, the
breakers, the outbox directory) when they are refreshed, before a scrape and, under
workers, once a second: nothing is counted on the way through a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmrelay.drain import Drain
from llmrelay.metering.ledger import ENDPOINTS
from llmrelay.observe.families import Families
from llmrelay.observe.metrics import LOCAL_KINDS
from llmrelay.observe.multiprocess import metrics_dir

if TYPE_CHECKING:
    from llmrelay.lineup import Lineups
    from llmrelay.routing.catalog import ModelCatalog

STATES = ("healthy", "cooldown", "half_open")


class StateGauges:
    def __init__(
        self, families: Families, lineups: Lineups, drain: Drain, outbox: Path, writers: int
    ) -> None:
        self.families = families
        self.lineups = lineups
        self.drain = drain
        self.outbox = outbox
        self.writers = writers
        """Processes appending to the outbox, each to a segment of its own that is not
        backlog (a machine's workers, or this process alone)."""
        self._catalog: ModelCatalog | None = None
        self._deployments: list[tuple[object, tuple[str, str, str]]] = []

    def refresh(self) -> None:
        self._inflight()
        self._breakers()
        self._backlog()
        self._local_queues()

    def _inflight(self) -> None:
        requests = dict.fromkeys(ENDPOINTS, 0)
        streams = dict.fromkeys(ENDPOINTS, 0)
        for exchange, _task in list(self.drain.live.values()):
            door = exchange.endpoint
            requests[door] = requests.get(door, 0) + 1
            if exchange.stream:
                streams[door] = streams.get(door, 0) + 1
        for door, count in requests.items():
            self.families.inflight.labels(door).set(count)
            self.families.inflight_streams.labels(door).set(streams[door])

    def _breakers(self) -> None:
        catalog = self.lineups.current.catalog
        if catalog is not self._catalog:
            self._follow(catalog)
        families = self.families
        for deployment, labels in self._deployments:
            state = deployment.breaker.state  # type: ignore[attr-defined]
            families.healthy.labels(*labels).set(1 if state == "healthy" else 0)
            for name in STATES:
                families.breaker.labels(*labels, name).set(1 if name == state else 0)

    def _follow(self, catalog: ModelCatalog) -> None:
        """After a reload: the deployments in force, and no series for those removed."""
        families = self.families
        labels = {(d.model, d.provider.name, d.label): d for d in catalog.deployments}
        for _deployment, old in self._deployments:
            if old not in labels and metrics_dir() is None:  # (files keep them, under workers)
                families.healthy.remove(*old)
                for name in STATES:
                    families.breaker.remove(*old, name)
        self._deployments = [(deployment, key) for key, deployment in labels.items()]
        self._catalog = catalog

    def _backlog(self) -> None:
        try:
            segments = sum(1 for _ in self.outbox.glob("outbox-*.jsonl"))
        except OSError:
            return
        self.families.backlog.set(max(0, segments - self.writers))

    def _local_queues(self) -> None:
        for name, provider in self.lineups.current.providers.items():
            if provider.kind in LOCAL_KINDS:
                depth = provider.status().get("in_flight")
                if isinstance(depth, int):
                    self.families.local_queue.labels(name).set(depth)
