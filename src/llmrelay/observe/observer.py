"""The Observer: what a process makes of each finished request (its metrics and its log
line), and how its metrics are published (`GET /metrics`, `metrics.port`).

The pipeline hands it every request's ledger record once, in `_settle` (`settled`): the one
place a request is seen whole, however it ended. Routing tells it of retries, fallbacks and
cooldowns as they happen (routing/events.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from llmrelay.config import Settings
from llmrelay.drain import Drain
from llmrelay.metering.exchange import Exchange
from llmrelay.metering.ledger import UsageRecord
from llmrelay.observe.families import Families
from llmrelay.observe.metrics import RequestMetrics, refusal_reason
from llmrelay.observe.multiprocess import metrics_dir, summed_registry
from llmrelay.observe.request_log import BODY_CHARS, RequestLog, cut
from llmrelay.observe.state import StateGauges
from llmrelay.providers.credentials import Scrubber, all_credentials
from llmrelay.routing import events
from llmrelay.wire.client_wire import WIRE_SCOPE_KEY

if TYPE_CHECKING:
    from llmrelay.lineup import Lineups

log = logging.getLogger("llmrelay.observe")

REFRESH_SECONDS = 1.0
"""Under workers, how often each worker hands its counts to the shared files: a scrape sees
the other workers' figures at most this old."""

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Observer:
    def __init__(
        self, settings: Settings, lineups: Lineups, drain: Drain, outbox: Path, writers: int
    ) -> None:
        """`writers`: the processes appending to `outbox` (the ledger's backlog is what
        they have handed on)."""
        self.settings = settings
        directory = metrics_dir()
        self.registry = summed_registry(directory) if directory else CollectorRegistry()
        families = Families(None if directory else self.registry)
        if not directory:
            ProcessCollector(registry=self.registry)
        self.multiprocess = directory is not None
        self.metrics = RequestMetrics(families, lineups)
        self.state = StateGauges(families, lineups, drain, outbox, writers)
        server = settings.server
        self.log = RequestLog(server.log_format == "json")
        self.bodies = server.log_bodies
        self._scrub = Scrubber(all_credentials(settings)) if self.bodies else None
        self._responses: dict[str, bytearray] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._port_server: Any = None
        events.listen(self.metrics)

    def settled(self, record: UsageRecord, exchange: Exchange) -> None:
        """One request is over: count it, and log its line. Never raises."""
        try:
            self.metrics.count(record, exchange)
            if record.error_code == "insufficient_quota" and refusal_reason(record):
                log.warning(
                    "request %s refused: key %s (%s) is over its budget (model %s)",
                    record.request_id,
                    record.key_name,
                    record.key_id,
                    record.model,
                )
            bodies = self._bodies(record, exchange) if self.bodies else None
            self.log.write(record, bodies)
        except Exception:
            log.exception("could not observe request %s", record.request_id)

    def refresh(self) -> None:
        """Bring the published figures up to now (on the event loop's thread)."""
        self.metrics.flush()
        self.state.refresh()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition the scraper asked for (Prometheus text, or OpenMetrics)."""
        self.refresh()
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    # Bodies (`server.log_bodies`)

    def capture(self, scope: dict[str, Any], send: Send) -> Send:
        """`send`, keeping the start of the response's body for the request's log line. The
        body then goes through `send` only, not straight to the socket (wire/pump.py)."""
        scope.pop(WIRE_SCOPE_KEY, None)
        kept = self._responses[scope["llmrelay.request_id"]] = bytearray()
        limit = 4 * BODY_CHARS  # bytes: up to 4 for each character of UTF-8

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and len(kept) < limit:
                kept.extend(message.get("body", b"")[: limit - len(kept)])
            await send(message)

        return sending

    def _bodies(self, record: UsageRecord, exchange: Exchange) -> dict[str, str]:
        assert self._scrub is not None
        response = self._responses.pop(record.request_id, None)
        bodies = {}
        if exchange.request is not None:
            prompt = orjson.dumps(exchange.request.messages).decode()
            bodies["prompt"] = cut(self._scrub(prompt))
        if response:
            text = response.decode(errors="replace")
            bodies["response"] = cut(self._scrub(text))
        return bodies

    # Life

    async def start(self, serve_port: bool) -> None:
        """Under workers, refresh once a second; with `serve_port`, serve `metrics.port`."""
        self._loop = asyncio.get_running_loop()
        if self.multiprocess:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="metrics")
        port = self.settings.metrics.port
        if serve_port and port is not None:
            registry = CollectorRegistry()
            registry.register(_RefreshFirst(self.registry, self._refresh_from_thread))
            self._port_server, _ = start_http_server(
                port, addr=self.settings.metrics.host, registry=registry
            )

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        self.refresh()  # the last counts into the shared files before the process exits
        self.log.flush()
        if self._port_server is not None:
            await asyncio.to_thread(self._port_server.shutdown)
            self._port_server.server_close()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                self.refresh()
            except Exception:
                log.exception("metrics refresh failed")

    def _refresh_from_thread(self) -> None:
        """`refresh` on the event loop, from the `metrics.port` server's thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                self.refresh()
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        with contextlib.suppress(Exception):
            done.result(timeout=5)


class _RefreshFirst(Collector):
    """`registry`'s metrics, refreshed first (for a scrape served on another thread)."""

    def __init__(self, registry: CollectorRegistry, refresh: Callable[[], None]) -> None:
        self.registry = registry
        self.refresh = refresh

    def collect(self) -> Iterable[Any]:
        self.refresh()
        return self.registry.collect()


def serve_summed(settings: Settings, directory: str) -> Any:
    """The supervisor's `metrics.port`: every worker's metrics, summed (workers refresh
    theirs once a second). Returns the server, for `shutdown`."""
    port = settings.metrics.port
    assert port is not None
    server, _ = start_http_server(
        port, addr=settings.metrics.host, registry=summed_registry(directory)
    )
    return server
