"""Reading a relay's `/metrics` as Prometheus would, and its request log lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN, RunningRelay, free_port, relay_config, relay_env
from tests.e2e.test_budgets_limits import PRICE
from tests.mocks.openai_upstream import MockOpenAI

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(relay: RunningRelay, url: str | None = None) -> Samples:
    response = httpx.get(url or relay.url + "/metrics", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels (0 when absent, as Prometheus reads it)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return round(value(after, name, **labels) - value(before, name, **labels), 9)


def metrics_config(mock: MockOpenAI) -> dict[str, Any]:
    """The test relay: a priced model (with an alias), one whose first deployment always
    fails (5xx) before a good one, and one that only fails, falling back to the priced one.
    A breaker opens at the first failure, and stays open for the module's length."""
    config = relay_config(mock)
    priced = {"provider": "mock", "upstream_model": "mock-echo", "price": PRICE}
    config["models"]["priced"] = {**priced, "aliases": ["priced-alias"]}
    config["models"]["flaky"] = {
        "price": PRICE,
        "deployments": [
            {"provider": "mock", "upstream_model": "mock-500", "priority": 0},
            {"provider": "mock", "upstream_model": "mock-echo", "priority": 1},
        ],
    }
    config["models"]["doomed"] = {
        "provider": "mock",
        "upstream_model": "mock-500",
        "fallbacks": ["priced"],
    }
    config["routing"] = {"backoff_seconds": 0, "breaker": {"failures": 1, "cooldown_seconds": 300}}
    config["metrics"] = {"port": free_port()}
    return config


def launch_with_stderr(directory: Path, config: dict[str, Any], **env: str) -> RunningRelay:
    """`llmrelay serve` with its stderr (the log) apart from its stdout (the banner)."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = directory / "stderr.log"
    args = [sys.executable, "-m", "llmrelay", "serve", "--data-dir", str(directory / "data")]
    process = subprocess.Popen(
        [*args, "--config", str(config_path), "--port", str(port)],
        stdout=(directory / "stdout.log").open("w"),
        stderr=log_path.open("w"),
        env=relay_env(**env),
    )
    return RunningRelay(
        f"http://127.0.0.1:{port}", directory / "data", config_path, process, log_path
    )


def lines_of(relay: RunningRelay, request_id: str) -> list[str]:
    """The request log's lines for `request_id` (not the warnings that name it)."""
    lines = relay.log().splitlines()
    return [line for line in lines if request_id in line and "llmrelay.request" in line]
