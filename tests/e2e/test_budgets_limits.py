"""Budgets, prices and rate limits, end to end: the real relay, the openai SDK, racing clients.

A priced model answers through the mock upstream at a known cost per request; keys are made
through the admin API with budgets and limits, and the ledger is the judge of what was spent.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from tests.conftest import (
    ADMIN_KEY,
    RunningRelay,
    launch_relay,
    relay_config,
    start_relay,
    stop_relay,
    wait_ready,
    wait_until,
)
from tests.e2e.races import ASK, race
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import REDIS_URL, redis_or_skip

PRICE = {"input": 1000.0, "output": 1000.0}  # $0.001 a token
COST = 0.008
"""The mock bills 'hello there' as 5 prompt tokens and answers 3 words: 8 tokens."""


def priced_config(mock: MockOpenAI) -> dict[str, Any]:
    config = relay_config(mock)
    config["models"]["priced"] = {"provider": "mock", "upstream_model": "mock-echo", "price": PRICE}
    return config


@pytest.fixture(scope="module")
def priced_relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    running = start_relay(
        priced_config(mock_openai), tmp_path_factory.mktemp("priced"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    yield running
    stop_relay(running)


def new_key(relay: RunningRelay, **limits: Any) -> str:
    body = {"name": "k-" + secrets.token_hex(4), **limits}
    response = httpx.post(
        relay.url + "/admin/keys",
        json=body,
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["key"]


def key_id_of(relay: RunningRelay, secret: str) -> str:
    response = httpx.get(
        relay.url + "/v1/key", headers={"authorization": f"Bearer {secret}"}, timeout=10
    )
    return response.json()["id"]


def recorded_spend(relay: RunningRelay, key_id: str, rows: int) -> float:
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    query = sa.text(
        "SELECT count(*), coalesce(sum(cost_usd), 0) FROM usage_records WHERE key_id = :k"
    )
    try:

        def settled() -> float | None:
            with engine.connect() as connection:
                count, spend = connection.execute(query, {"k": key_id}).one()
            return spend if count >= rows else None

        return wait_until(settled, 30)
    finally:
        engine.dispose()


def test_two_hundred_concurrent_requests_cannot_overspend_a_budget(priced_relay) -> None:
    budget = 10 * COST
    key = new_key(priced_relay, budget_usd=budget)
    succeeded, refused = asyncio.run(race([priced_relay.base_url], [key], 200))
    assert 1 <= succeeded <= 10
    assert set(refused) == {"insufficient_quota"} and len(refused) == 200 - succeeded
    spend = recorded_spend(priced_relay, key_id_of(priced_relay, key), 200)
    assert spend == pytest.approx(succeeded * COST)
    assert spend <= budget + 1e-9


def test_the_budget_is_used_up_and_then_refused(priced_relay) -> None:
    budget = 0.05
    key = new_key(priced_relay, budget_usd=budget)
    client = openai.OpenAI(base_url=priced_relay.base_url, api_key=key, max_retries=2)
    outcomes = []
    for _ in range(8):
        try:
            client.chat.completions.create(model="priced", messages=ASK, max_tokens=5)
            outcomes.append("ok")
        except openai.RateLimitError as error:
            assert error.code == "insufficient_quota"
            assert error.response.headers["x-should-retry"] == "false"
            outcomes.append("refused")
    served = outcomes.count("ok")
    assert served >= 3 and outcomes == ["ok"] * served + ["refused"] * (8 - served)
    standing = httpx.get(
        priced_relay.url + "/v1/key", headers={"authorization": f"Bearer {key}"}
    ).json()
    assert standing["spend_usd"] == pytest.approx(served * COST)
    assert standing["budget_remaining_usd"] == pytest.approx(budget - served * COST)
    assert standing["budget_remaining_usd"] < 2 * COST  # refused only once it could not fit


def test_each_answer_carries_its_cost(priced_relay) -> None:
    key = new_key(priced_relay)
    client = openai.OpenAI(base_url=priced_relay.base_url, api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="priced", messages=ASK, max_tokens=5
    )
    assert float(raw.headers["x-llmrelay-cost-usd"]) == pytest.approx(COST)
    row = priced_relay.ledger_row(raw.headers["x-request-id"])
    assert row["cost_usd"] == pytest.approx(COST)
    stream = client.chat.completions.with_raw_response.create(
        model="priced",
        messages=ASK,
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    list(stream.parse())
    assert priced_relay.ledger_row(stream.headers["x-request-id"])["cost_usd"] == pytest.approx(
        COST
    )


def test_an_unpriced_model_costs_nothing(priced_relay) -> None:
    key = new_key(priced_relay)
    client = openai.OpenAI(base_url=priced_relay.base_url, api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="gpt-5", messages=ASK)
    assert "x-llmrelay-cost-usd" not in raw.headers
    assert priced_relay.ledger_row(raw.headers["x-request-id"])["cost_usd"] == 0


def test_requests_per_minute_with_openai_headers(priced_relay) -> None:
    key = new_key(priced_relay, rpm=2, tpm=100000)
    client = openai.OpenAI(base_url=priced_relay.base_url, api_key=key, max_retries=0)
    first = client.chat.completions.with_raw_response.create(model="gpt-5", messages=ASK)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert first.headers["x-ratelimit-limit-tokens"] == "100000"
    second = client.chat.completions.with_raw_response.create(model="gpt-5", messages=ASK)
    assert int(second.headers["x-ratelimit-remaining-tokens"]) < 100000
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-5", messages=ASK)
    assert caught.value.code == "rate_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
    assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"


async def test_concurrent_requests_beyond_the_limit_are_refused(priced_relay) -> None:
    key = new_key(priced_relay, max_concurrent=2)
    client = openai.AsyncOpenAI(base_url=priced_relay.base_url, api_key=key, max_retries=0)

    async def slow() -> str:
        try:
            stream = await client.chat.completions.create(
                model="slow-start", messages=ASK, stream=True
            )
            async for _ in stream:
                pass
        except openai.RateLimitError as error:
            return error.code or "?"
        return "ok"

    outcomes = await asyncio.gather(*(slow() for _ in range(5)))
    await client.close()
    assert outcomes.count("ok") >= 2
    assert "rate_limit_exceeded" in outcomes
    assert set(outcomes) <= {"ok", "rate_limit_exceeded"}


def test_a_key_bound_to_other_addresses_is_refused(priced_relay) -> None:
    key = new_key(priced_relay, allowed_ips=["10.0.0.0/8"])
    client = openai.OpenAI(base_url=priced_relay.base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="gpt-5", messages=ASK)
    assert caught.value.code == "ip_not_allowed"
    home = new_key(priced_relay, allowed_ips=["127.0.0.0/8", "::1"])
    client = openai.OpenAI(base_url=priced_relay.base_url, api_key=home, max_retries=0)
    assert client.chat.completions.create(model="gpt-5", messages=ASK).choices


@pytest.fixture(scope="module")
def replicas(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[list[RunningRelay]]:
    asyncio.run(_require_redis())
    directory: Path = tmp_path_factory.mktemp("replicas")
    config = priced_config(mock_openai)
    env = {"LLMRELAY_ADMIN_KEY": ADMIN_KEY, "LLMRELAY_REDIS_URL": REDIS_URL}
    first = start_relay(config, directory, **env)
    second = wait_ready(launch_relay(directory, config, log_name="replica-2.log", **env))
    yield [first, second]
    stop_relay(second)
    stop_relay(first)


async def _require_redis() -> None:
    client = await redis_or_skip()
    await client.aclose()


def test_replicas_sharing_redis_cannot_overspend_together(replicas) -> None:
    budget = 10 * COST
    key = new_key(replicas[0], budget_usd=budget, rpm=1000)
    urls = [replica.base_url for replica in replicas]
    succeeded, refused = asyncio.run(race(urls, [key], 200))
    assert 1 <= succeeded <= 10
    assert set(refused) == {"insufficient_quota"}
    spend = recorded_spend(replicas[0], key_id_of(replicas[0], key), 200)
    assert spend == pytest.approx(succeeded * COST)
    assert spend <= budget + 1e-9


def test_replicas_share_one_requests_per_minute_count(replicas) -> None:
    key = new_key(replicas[0], rpm=3)
    outcomes = []
    for i in range(5):
        client = openai.OpenAI(base_url=replicas[i % 2].base_url, api_key=key, max_retries=0)
        try:
            client.chat.completions.create(model="gpt-5", messages=ASK)
            outcomes.append("ok")
        except openai.RateLimitError:
            outcomes.append("limited")
    assert outcomes == ["ok", "ok", "ok", "limited", "limited"]


def test_the_usage_command_sums_cost_per_key_and_model(priced_relay) -> None:
    import json

    key = new_key(priced_relay)
    client = openai.OpenAI(base_url=priced_relay.base_url, api_key=key, max_retries=0)
    raws = [
        client.chat.completions.with_raw_response.create(model="priced", messages=ASK, max_tokens=5)
        for _ in range(2)
    ]
    for raw in raws:
        priced_relay.ledger_row(raw.headers["x-request-id"])
    rows = json.loads(priced_relay.cli("usage", "--json").stdout)
    name = httpx.get(
        priced_relay.url + "/v1/key", headers={"authorization": f"Bearer {key}"}
    ).json()["name"]
    mine = next(r for r in rows if r["key_name"] == name and r["model"] == "priced")
    assert mine["requests"] == 2
    assert mine["cost_usd"] == pytest.approx(2 * COST)
    table = priced_relay.cli("usage").stdout
    assert "COST_USD" in table and f"{2 * COST:.6f}" in table


def test_unreachable_redis_is_a_clear_503_for_limited_keys_only(
    mock_openai: MockOpenAI, tmp_path
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    relay = start_relay(
        priced_config(mock_openai), tmp_path, LLMRELAY_ADMIN_KEY=ADMIN_KEY, LLMRELAY_REDIS_URL=dead
    )
    try:
        limited = new_key(relay, rpm=10)
        plain = new_key(relay)
        client = openai.OpenAI(base_url=relay.base_url, api_key=limited, max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="gpt-5", messages=ASK)
        assert caught.value.status_code == 503
        assert caught.value.code == "counters_unavailable"
        free = openai.OpenAI(base_url=relay.base_url, api_key=plain, max_retries=0)
        assert free.chat.completions.create(model="gpt-5", messages=ASK).choices
        shown = httpx.get(relay.url + "/v1/key", headers={"authorization": f"Bearer {limited}"})
        assert shown.status_code == 503
        assert shown.json()["error"]["code"] == "counters_unavailable"
    finally:
        stop_relay(relay)
