"""`GET /metrics` (docs/observability.md), end to end: the real relay over the mock upstream,
scraped as Prometheus scrapes it; every figure checked against the requests made (and the
ledger's own record of them)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import ADMIN, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.metrics_support import delta, metrics_config, scrape, total, value
from tests.e2e.races import ASK
from tests.e2e.test_budgets_limits import new_key
from tests.mocks.openai_upstream import MockOpenAI

R = "llmrelay_requests_total"


@pytest.fixture(scope="module")
def relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    running = start_relay(
        metrics_config(mock_openai),
        tmp_path_factory.mktemp("metrics"),
        LLMRELAY_ADMIN_KEY=ADMIN["authorization"].split()[1],
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(relay: RunningRelay) -> str:
    return new_key(relay)


def chat(relay: RunningRelay, key: str, model: str = "priced", **extra) -> httpx.Response:
    body = {"model": model, "messages": ASK, **extra}
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(relay.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_metrics_need_the_admin_key(relay: RunningRelay, key: str) -> None:
    assert httpx.get(relay.url + "/metrics", timeout=10).status_code == 401
    api_key = {"authorization": f"Bearer {key}"}
    refused = httpx.get(relay.url + "/metrics", headers=api_key, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_required"
    answer = httpx.get(relay.url + "/metrics", headers=ADMIN, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    for family in (
        "llmrelay_requests_total",
        "llmrelay_request_duration_seconds",
        "llmrelay_time_to_first_token_seconds",
        "llmrelay_added_latency_seconds",
        "llmrelay_tokens_total",
        "llmrelay_cost_usd_total",
        "llmrelay_upstream_errors_total",
        "llmrelay_refusals_total",
        "llmrelay_inflight_requests",
        "llmrelay_deployment_healthy",
        "llmrelay_ledger_backlog",
    ):
        assert f"# HELP {family} " in answer.text, family


def test_whole_and_streamed_requests_count_once_each_with_their_tokens_and_cost(
    relay: RunningRelay, key: str
) -> None:
    before = scrape(relay)
    whole = chat(relay, key, model="priced-alias")  # an alias counts as its model
    assert whole.status_code == 200
    with openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0) as client:
        stream = client.chat.completions.with_raw_response.create(
            model="priced", messages=ASK, stream=True
        )
        streamed_id = stream.headers["x-request-id"]
        assert "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    after = scrape(relay)
    rows = [relay.ledger_row(whole.headers["x-request-id"]), relay.ledger_row(streamed_id)]

    served = {"door": "chat", "model": "priced", "provider": "mock"}
    assert delta(before, after, R, **served, deployment="mock/mock-echo", status="2xx") == 2
    for family in ("llmrelay_request_duration_seconds", "llmrelay_time_to_first_token_seconds"):
        assert delta(before, after, family + "_count", door="chat", model="priced") == 2
    assert delta(before, after, "llmrelay_added_latency_seconds_count", door="chat") == 2
    tokens = "llmrelay_tokens_total"
    spent = {"model": "priced", "provider": "mock"}
    prompt = sum(row["prompt_tokens"] for row in rows)
    completion = sum(row["completion_tokens"] for row in rows)
    assert prompt > 0 and completion > 0
    assert delta(before, after, tokens, **spent, kind="prompt") == prompt
    assert delta(before, after, tokens, **spent, kind="completion") == completion
    cost = delta(before, after, "llmrelay_cost_usd_total", **spent)
    assert cost == pytest.approx(sum(row["cost_usd"] for row in rows))
    assert cost == pytest.approx(float(whole.headers["x-llmrelay-cost-usd"]) * 2)
    # Sub-millisecond buckets exist for the relay's own time, and five-minute ones.
    assert ("llmrelay_added_latency_seconds_bucket", "0.0001") in {
        (name, dict(labels).get("le")) for name, labels in after
    }
    assert (
        value(
            after,
            "llmrelay_request_duration_seconds_bucket",
            door="chat",
            model="priced",
            le="300.0",
        )
        >= 2
    )


def test_refusals_by_budget_rate_limit_auth_and_model(relay: RunningRelay, key: str) -> None:
    broke = new_key(relay, budget_usd=0.000001)
    limited = new_key(relay, rpm=1)
    before = scrape(relay)
    assert chat(relay, broke).json()["error"]["code"] == "insufficient_quota"
    assert chat(relay, limited).status_code == 200
    assert chat(relay, limited).json()["error"]["code"] == "rate_limit_exceeded"
    assert chat(relay, "sk-" + secrets.token_urlsafe(32)).status_code == 401
    assert chat(relay, key, model="no-such-model").status_code == 404
    after = scrape(relay)

    refusals = "llmrelay_refusals_total"
    for reason in ("budget", "rate_limit", "auth", "model"):
        assert delta(before, after, refusals, door="chat", reason=reason) == 1, reason
    unserved = {"door": "chat", "provider": "", "deployment": "", "status": "4xx"}
    assert delta(before, after, R, **unserved, model="priced") == 2  # budget, rate limit
    assert delta(before, after, R, **unserved, model="unknown") == 2  # auth, unknown model
    assert wait_until(lambda: "is over its budget" in relay.log())


def test_an_upstream_500_fails_over_and_cools_the_deployment_down(
    relay: RunningRelay, key: str
) -> None:
    before = scrape(relay)
    assert chat(relay, key, model="flaky").status_code == 200  # 500, then the next deployment
    assert chat(relay, key, model="flaky").status_code == 200  # straight to the next one
    assert chat(relay, key, model="doomed").status_code == 200  # 500, then its fallback
    after = scrape(relay)

    bad = {"model": "flaky", "provider": "mock", "deployment": "mock/mock-500"}
    good = {"model": "flaky", "provider": "mock", "deployment": "mock/mock-echo"}
    errors = "llmrelay_upstream_errors_total"
    assert delta(before, after, errors, **bad, kind="5xx") == 1
    assert delta(before, after, "llmrelay_retries_total", **good) == 1
    assert delta(before, after, "llmrelay_cooldowns_total", **bad) == 1
    assert value(after, "llmrelay_deployment_healthy", **bad) == 0
    assert value(after, "llmrelay_deployment_healthy", **good) == 1
    assert value(after, "llmrelay_deployment_breaker_state", **bad, state="cooldown") == 1
    assert value(after, "llmrelay_deployment_breaker_state", **bad, state="healthy") == 0
    assert delta(before, after, R, door="chat", **good, status="2xx") == 2
    fallbacks = "llmrelay_fallbacks_total"
    assert delta(before, after, fallbacks, model="doomed", fallback="priced", reason="failure") == 1
    doomed = {"model": "doomed", "provider": "mock", "deployment": "mock/mock-500"}
    assert delta(before, after, errors, **doomed, kind="5xx") == 1
    log = relay.log()
    assert "flaky via mock (mock-500) cooling down for 300.0 s" in log
    assert "doomed: failing over to its fallback priced (failure)" in log


def test_streams_in_flight_are_seen_while_they_run(relay: RunningRelay, key: str) -> None:
    body = {"model": "slow-stream", "messages": ASK, "stream": True}
    headers = {"authorization": f"Bearer {key}"}
    streams = "llmrelay_inflight_streams"
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", relay.base_url + "/chat/completions", json=body, headers=headers
        ) as r,
    ):
        lines = r.iter_lines()  # (held: a generator let go of closes the response)
        next(lines)
        now = scrape(relay)
        assert value(now, streams, door="chat") == 1
        assert value(now, "llmrelay_inflight_requests", door="chat") == 1
    wait_until(lambda: value(scrape(relay), streams, door="chat") == 0)


def test_no_label_carries_a_key_a_prompt_or_a_made_up_model(relay: RunningRelay, key: str) -> None:
    prompt = "tell-no-one-" + secrets.token_hex(8)
    made_up = "sk-model-" + secrets.token_hex(8)
    messages = [{"role": "user", "content": prompt}]
    headers = {"authorization": f"Bearer {key}"}
    for model in ("priced", made_up):
        httpx.post(
            relay.base_url + "/chat/completions",
            json={"model": model, "messages": messages},
            headers=headers,
            timeout=30,
        )
    text = httpx.get(relay.url + "/metrics", headers=ADMIN, timeout=10).text
    key_id = httpx.get(relay.base_url + "/key", headers=headers, timeout=10).json()["id"]
    for secret in (key, key_id, prompt, made_up, ADMIN["authorization"].split()[1]):
        assert secret not in text


def test_the_metrics_port_serves_the_same_figures_without_a_key(relay: RunningRelay) -> None:
    port = relay.config_path.read_text().split("port: ")[-1].split()[0]
    url = f"http://127.0.0.1:{port}/metrics"
    main = scrape(relay)
    side = scrape(relay, url)
    assert total(side, R) == total(main, R) > 0
    assert httpx.get(url, timeout=10).status_code == 200  # (no key at all)


def test_public_metrics_need_no_key(mock_openai: MockOpenAI, tmp_path) -> None:
    config = metrics_config(mock_openai)
    config["metrics"] = {"public": True}
    relay = start_relay(config, tmp_path)
    try:
        answer = httpx.get(relay.url + "/metrics", timeout=10)
        assert answer.status_code == 200 and "llmrelay_requests_total" in answer.text
    finally:
        stop_relay(relay)
