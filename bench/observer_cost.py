"""Microseconds the per-request observer (observe/) adds: metrics, and metrics with the log
line, on a realistic ledger record. Run with stderr sent to a file, as a served relay's is:

    PYTHONPATH=src .venv/bin/python -m bench.observer_cost [single|workers] [text|json] 2>/tmp/x
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import timeit
from pathlib import Path


def main(mode: str, log_format: str) -> None:
    if mode == "workers":
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from llmrelay.config import parse_settings
    from llmrelay.drain import Drain
    from llmrelay.lineup import Lineup, Lineups
    from llmrelay.metering.exchange import Exchange
    from llmrelay.observe.observer import Observer
    from llmrelay.protocol.usage import Usage
    from llmrelay.providers import build_providers
    from llmrelay.providers.images import ImageFetcher
    from llmrelay.routing.catalog import ModelCatalog
    from llmrelay.routing.router import Router

    settings = parse_settings(
        {
            "server": {"log_format": log_format},
            "providers": {
                "mock": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-x"}
            },
            "models": {
                "gpt-5": {
                    "provider": "mock",
                    "upstream_model": "mock-echo",
                    "price": {"input": 1.25, "output": 10.0},
                }
            },
        }
    )
    providers = build_providers(settings, ImageFetcher(settings.images))
    catalog = ModelCatalog.from_settings(settings, providers)
    lineups = Lineups(Lineup(providers, catalog, Router(settings.routing)))
    observer = Observer(settings, lineups, Drain(30), Path(tempfile.mkdtemp()), 1)
    exchange = Exchange.begin("req_0123456789abcdef01234567", "chat")
    exchange.model, exchange.provider, exchange.upstream_model = "gpt-5", "mock", "mock-echo"
    exchange.client_ip, exchange.usage = "127.0.0.1", Usage(120, 40)
    exchange.price = settings.models["gpt-5"].price
    exchange.first_token_at, exchange.upstream_seconds = exchange.started + 0.004, 0.0037
    record = exchange.record()
    record.key_id, record.key_name = "key_0123456789abcdef", "team-a"

    def best(run: object) -> float:
        times = timeit.repeat(run, number=20000, repeat=7)  # type: ignore[arg-type]
        return min(times) / 20000 * 1e6

    metrics = best(lambda: observer.metrics.count(record, exchange))
    settled = best(lambda: observer.settled(record, exchange))
    print(f"{mode} {log_format}: metrics {metrics:.2f} us, metrics + log line {settled:.2f} us")


if __name__ == "__main__":
    main(*(sys.argv[1:3] + ["single", "text"][len(sys.argv) - 1 :]))
