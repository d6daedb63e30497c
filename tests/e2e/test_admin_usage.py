"""Usage aggregates, the request log and its CSV export, and the model list, after real
requests through the mock upstream to models with prices."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.admin_support import (
    CHEAP_COST,
    PRICED_COST,
    admin_client,
    ask,
    new_key,
    priced_config,
    wait_for_records,
)
from tests.mocks.openai_upstream import MockOpenAI


@pytest.fixture(scope="module")
def priced(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = start_relay(
        priced_config(mock_openai), tmp_path_factory.mktemp("usage"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def admin(priced: RunningRelay) -> Iterator[httpx.Client]:
    with admin_client(priced) as client:
        yield client


@pytest.fixture(scope="module")
def traffic(priced: RunningRelay, admin: httpx.Client) -> dict[str, object]:
    """Two keys' requests: whole and streamed, two priced models, one failing model."""
    first = new_key(admin)
    second = new_key(admin, name='=HYPERLINK("http://x")')
    ids = [
        ask(priced, first["key"]),
        ask(priced, first["key"], stream=True),
        ask(priced, first["key"], "cheap"),
        ask(priced, first["key"], "broken"),
        ask(priced, second["key"]),
    ]
    wait_for_records(admin, first["id"], 4)
    wait_for_records(admin, second["id"], 1)
    return {"first": first, "second": second, "ids": ids}


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def usage(admin: httpx.Client, **params: str) -> list[dict]:
    response = admin.get("/admin/usage", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    return body["data"]


def test_usage_by_day_and_model_counts_tokens_errors_and_cost(
    admin: httpx.Client, traffic: dict
) -> None:
    rows = usage(admin, group_by="day,model", key_id=traffic["first"]["id"])
    by_model = {row["model"]: row for row in rows}
    assert set(by_model) == {"priced", "cheap", "broken"}
    assert {row["day"] for row in rows} == {today()}
    priced = by_model["priced"]
    assert priced["requests"] == 2 and priced["errors"] == 0
    assert priced["prompt_tokens"] == 10 and priced["completion_tokens"] == 6
    assert priced["total_tokens"] == 16
    assert priced["cost_usd"] == pytest.approx(2 * PRICED_COST)
    assert by_model["cheap"]["cost_usd"] == pytest.approx(CHEAP_COST)
    broken = by_model["broken"]
    assert broken["requests"] == 1 and broken["errors"] == 1 and broken["cost_usd"] == 0
    assert set(priced) == {
        "day", "model", "requests", "errors", "prompt_tokens", "completion_tokens",
        "cached_tokens", "reasoning_tokens", "total_tokens", "cost_usd",
    }  # fmt: skip


def test_usage_by_key_names_each_key(admin: httpx.Client, traffic: dict) -> None:
    rows = {row["key_id"]: row for row in usage(admin, group_by="key", start=today())}
    first, second = traffic["first"], traffic["second"]
    assert rows[first["id"]]["key_name"] == first["name"]
    assert rows[first["id"]]["requests"] == 4
    assert rows[second["id"]]["cost_usd"] == pytest.approx(PRICED_COST)
    assert "day" not in rows[first["id"]] and "model" not in rows[first["id"]]


def test_usage_by_hour_and_totals(admin: httpx.Client, traffic: dict) -> None:
    key_id = traffic["first"]["id"]
    hours = usage(admin, group_by="hour", key_id=key_id)
    assert sum(row["requests"] for row in hours) == 4
    for row in hours:
        start = datetime.strptime(row["hour"], "%Y-%m-%dT%H:00:00Z").replace(tzinfo=UTC)
        assert 0 <= time.time() - start.timestamp() < 2 * 3600
    [total] = usage(admin, key_id=key_id)
    assert total["requests"] == 4 and total["errors"] == 1
    assert total["cost_usd"] == pytest.approx(2 * PRICED_COST + CHEAP_COST)
    [nothing] = usage(admin, key_id=key_id, end="2020-01-01")
    assert nothing["requests"] == 0 and nothing["cost_usd"] == 0


def test_usage_filters_by_model_and_time(admin: httpx.Client, traffic: dict) -> None:
    key_id = traffic["first"]["id"]
    [row] = usage(admin, key_id=key_id, model="cheap")
    assert row["requests"] == 1
    now = int(time.time())
    [row] = usage(admin, key_id=key_id, start=str(now - 3600), end=str(now + 60))
    assert row["requests"] == 4
    [row] = usage(admin, key_id=key_id, start=today(), end=today())  # a date's whole day
    assert row["requests"] == 4


def test_usage_counts_only_requests_made_with_a_key(
    priced: RunningRelay, admin: httpx.Client, traffic: dict
) -> None:
    """A request refused for want of a valid key is no key's usage and names no model: it is in
    the request log, and not in the totals and series the console charts."""
    since = f"{time.time():.3f}"
    key = new_key(admin)
    ask(priced, key["key"])
    for token in ("sk-nobody", None):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        refused = httpx.post(
            priced.base_url + "/chat/completions",
            json={"model": "priced", "messages": [{"role": "user", "content": "hi"}]},
            headers=headers,
        )
        assert refused.status_code == 401

    def all_three_logged() -> list[dict] | None:
        page = admin.get("/admin/requests", params={"start": since}).json()["data"]
        return page if len(page) == 3 else None

    log = wait_until(all_three_logged, timeout=30)
    assert sorted(record["key_id"] or "" for record in log) == ["", "", key["id"]]
    [total] = usage(admin, start=since)
    assert total["requests"] == 1 and total["errors"] == 0
    by_key = usage(admin, group_by="key,model", start=since)
    assert [(row["key_id"], row["model"]) for row in by_key] == [(key["id"], "priced")]


@pytest.mark.parametrize(
    ("route", "params", "param"),
    [
        ("/admin/usage", {"group_by": "day,week"}, "group_by"),
        ("/admin/usage", {"start": "yesterday"}, "start"),
        ("/admin/usage", {"start": "2026-13-01"}, "start"),
        ("/admin/usage", {"start": "2026-01-02", "end": "1767225600"}, "end"),
        ("/admin/requests", {"limit": "0"}, "limit"),
        ("/admin/requests", {"limit": "1001"}, "limit"),
        ("/admin/requests", {"limit": "²"}, "limit"),  # str.isdigit() says yes
        ("/admin/requests", {"cursor": "not-a-cursor"}, "cursor"),
        ("/admin/requests", {"cursor": "WzEuMCw5MjIzMzcyMDM2ODU0Nzc1ODA4XQ"}, "cursor"),  # 2**63
        ("/admin/requests", {"status": "maybe"}, "status"),
        ("/admin/requests.csv", {"end": "soon"}, "end"),
    ],
)
def test_bad_query_parameters_are_named(
    admin: httpx.Client, route: str, params: dict, param: str
) -> None:
    response = admin.get(route, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_request_log_pages_newest_first(priced: RunningRelay, admin: httpx.Client) -> None:
    key = new_key(admin)
    sent = [ask(priced, key["key"]) for _ in range(5)]
    wait_for_records(admin, key["id"], 5)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"key_id": key["id"], "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = admin.get("/admin/requests", params=params).json()
        pages += 1
        seen += page["data"]
        assert page["has_more"] == (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert [r["request_id"] for r in seen] == list(reversed(sent))
    record = seen[0]
    assert record["key_id"] == key["id"] and record["key_name"] == key["name"]
    assert record["model"] == "priced" and record["upstream_model"] == "mock-echo"
    assert record["status"] == 200 and record["cost_usd"] == pytest.approx(PRICED_COST)
    assert record["total_tokens"] == 8 and isinstance(record["created_at"], int)
    assert record["latency_ms"] > 0 and record["stream"] is False


def test_request_log_filters_by_status_and_model(admin: httpx.Client, traffic: dict) -> None:
    key_id = traffic["first"]["id"]
    errors = admin.get("/admin/requests", params={"key_id": key_id, "status": "error"}).json()
    assert [r["model"] for r in errors["data"]] == ["broken"]
    assert errors["data"][0]["status"] >= 500 and errors["data"][0]["error_code"]
    ok = admin.get("/admin/requests", params={"key_id": key_id, "status": "ok"}).json()
    assert len(ok["data"]) == 3
    streamed = [r for r in ok["data"] if r["stream"]]
    assert len(streamed) == 1 and streamed[0]["cost_usd"] == pytest.approx(PRICED_COST)
    cheap = admin.get("/admin/requests", params={"model": "cheap", "key_id": key_id}).json()
    assert [r["request_id"] for r in cheap["data"]] == [traffic["ids"][2]]


def test_csv_export_holds_every_record(admin: httpx.Client, traffic: dict) -> None:
    response = admin.get("/admin/requests.csv", params={"start": today()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_id = {row["request_id"]: row for row in rows}
    assert set(traffic["ids"]) <= set(by_id)
    first = by_id[traffic["ids"][0]]
    assert first["model"] == "priced" and float(first["cost_usd"]) == pytest.approx(PRICED_COST)
    assert first["time_utc"].startswith(today()) and first["time_utc"].endswith("Z")
    assert first["key_id"] == traffic["first"]["id"]
    second = by_id[traffic["ids"][4]]
    assert second["key_name"] == "'" + traffic["second"]["name"]  # not a live formula
    only = admin.get("/admin/requests.csv", params={"key_id": traffic["second"]["id"]}).text
    assert len(list(csv.DictReader(io.StringIO(only)))) == 1


def test_models_show_provider_capabilities_price_and_health(admin: httpx.Client) -> None:
    body = admin.get("/admin/models").json()
    models = {model["id"]: model for model in body["data"]}
    assert set(models) == {"priced", "cheap", "thinker", "broken"}
    priced = models["priced"]
    assert priced["provider"] == "mock" and priced["aliases"] == ["priced-latest"]
    assert priced["description"] == "a model with a price"
    assert priced["price"] == {
        "input": 1000.0, "output": 1000.0, "cached_input": 500.0, "cache_write": 1000.0,
    }  # fmt: skip
    every_door = ["chat", "messages", "responses", "embeddings", "completions"]
    assert models["cheap"]["capabilities"] == {
        "vision": True,
        "reasoning": False,
        "tools": True,
        "endpoints": every_door,
    }
    assert models["thinker"]["capabilities"]["reasoning"] is True
    assert models["thinker"]["price"] is None
    [health] = priced["health"]
    assert health["state"] == "healthy" and health["upstream_model"] == "mock-echo"


def test_a_failing_deployment_shows_in_model_health(
    priced: RunningRelay, admin: httpx.Client
) -> None:
    key = new_key(admin)
    for _ in range(3):
        ask(priced, key["key"], "broken")
    [health] = {m["id"]: m for m in admin.get("/admin/models").json()["data"]}["broken"]["health"]
    assert health["state"] == "cooldown" and health["cooldown_remaining_seconds"] > 0


def test_status_shows_tasks_backlog_and_upstream_pools(
    priced: RunningRelay, admin: httpx.Client, traffic: dict
) -> None:
    status = admin.get("/admin/status").json()
    assert status["object"] == "relay.status" and status["uptime_seconds"] > 0
    assert 1 <= status["asyncio_tasks"] < 50
    assert status["ledger_backlog_segments"] >= 0
    mock = status["providers"]["mock"]
    assert mock["kind"] == "openai" and mock["ready"] is True
    assert mock["connections_in_use"] == 0  # nothing in flight now
    assert mock["connections_idle"] >= 1  # the traffic left a kept-alive connection
    api_key = traffic["first"]["key"]  # type: ignore[index]
    refused = httpx.get(
        priced.url + "/admin/status", headers={"authorization": f"Bearer {api_key}"}
    )
    assert refused.status_code == 403


def test_usage_groups_and_filters_by_door(admin: httpx.Client, traffic: dict[str, object]) -> None:
    first = traffic["first"]
    assert isinstance(first, dict)
    rows = admin.get("/admin/usage", params={"group_by": "endpoint", "key_id": first["id"]})
    assert rows.status_code == 200, rows.text
    [chat] = rows.json()["data"]
    assert (chat["endpoint"], chat["requests"]) == ("chat", 4)
    other = admin.get("/admin/usage", params={"endpoint": "messages", "key_id": first["id"]})
    assert other.json()["data"][0]["requests"] == 0
    log = admin.get("/admin/requests", params={"endpoint": "chat", "key_id": first["id"]})
    assert {row["endpoint"] for row in log.json()["data"]} == {"chat"}
    assert len(log.json()["data"]) == 4
    bad = admin.get("/admin/usage", params={"endpoint": "fax"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "endpoint"
