"""`/metrics` under `llmrelay serve --workers 2`: whichever process a scrape reaches (a worker
on the main port, the supervisor on `metrics.port`), the figures are every worker's, summed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.metrics_support import metrics_config, scrape, total, value
from tests.e2e.races import ASK
from tests.e2e.test_budgets_limits import new_key
from tests.e2e.test_workers import answered_by, worker_pids
from tests.mocks.openai_upstream import MockOpenAI

WORKERS = 2
REQUESTS = 20


@pytest.fixture(scope="module")
def fleet(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    config = metrics_config(mock_openai)
    config["server"]["workers"] = WORKERS
    del config["models"]["smollm2-135m-instruct"]  # (no model host to start)
    relay = start_relay(
        config, tmp_path_factory.mktemp("metrics-workers"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    wait_until(lambda: len(worker_pids(relay)) == WORKERS, timeout=60)
    yield relay
    stop_relay(relay)


def test_requests_spread_over_the_workers_are_summed(fleet: RunningRelay) -> None:
    key = new_key(fleet)
    headers = {"authorization": f"Bearer {key}"}
    served_by = set()
    request_ids = []
    for _ in range(REQUESTS):  # a new connection each: the kernel hands them to either worker
        answer = httpx.post(
            fleet.base_url + "/chat/completions",
            json={"model": "priced", "messages": ASK},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 200
        request_ids.append(answer.headers["x-request-id"])
        served_by.add(answered_by(fleet))
    assert len(served_by) == WORKERS
    rows = [fleet.ledger_row(request_id) for request_id in request_ids]
    port = fleet.config_path.read_text().split("port: ")[-1].split()[0]
    series = {"door": "chat", "model": "priced", "provider": "mock"}
    for url in (None, f"http://127.0.0.1:{port}/metrics"):  # a worker; the supervisor

        def summed(url: str | None = url) -> bool:
            samples = scrape(fleet, url)
            count = "llmrelay_request_duration_seconds_count"
            return (
                total(samples, "llmrelay_requests_total", **series) == REQUESTS
                and value(samples, count, door="chat", model="priced") == REQUESTS
            )

        wait_until(summed)
        samples = scrape(fleet, url)
        tokens = "llmrelay_tokens_total"
        prompt = sum(row["prompt_tokens"] for row in rows)
        assert value(samples, tokens, model="priced", provider="mock", kind="prompt") == prompt
        cost = value(samples, "llmrelay_cost_usd_total", model="priced", provider="mock")
        assert cost == pytest.approx(sum(row["cost_usd"] for row in rows))
        # State gauges: one value per live worker, combined (livesum, livemin).
        assert total(samples, "llmrelay_inflight_requests") == 0
        good = {"model": "priced", "provider": "mock", "deployment": "mock/mock-echo"}
        assert value(samples, "llmrelay_deployment_healthy", **good) == 1
        assert (
            value(samples, "llmrelay_deployment_breaker_state", **good, state="healthy") == WORKERS
        )
