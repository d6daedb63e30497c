"""What a customer sees with their own key: the key and what it has spent, its own usage and
request log (never another key's), and the billing routes chat front ends read a balance from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.admin_support import (
    PRICED_COST,
    admin_client,
    ask,
    new_key,
    priced_config,
    wait_for_records,
)
from tests.mocks.openai_upstream import MockOpenAI

NO_BUDGET = 100_000_000


@pytest.fixture(scope="module")
def priced(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = start_relay(
        priced_config(mock_openai),
        tmp_path_factory.mktemp("customer"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def admin(priced: RunningRelay) -> Iterator[httpx.Client]:
    with admin_client(priced) as client:
        yield client


def as_key(relay: RunningRelay, secret: str) -> httpx.Client:
    headers = {"authorization": f"Bearer {secret}"}
    return httpx.Client(base_url=relay.url, headers=headers, timeout=30)


def today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def settled(customer: httpx.Client, spend: float) -> dict | None:
    """The caller's key object once its settled spend has reached `spend`."""
    key = customer.get("/v1/key").json()
    return key if key["spend_usd"] == pytest.approx(spend) else None


def test_a_key_sees_itself_and_what_it_spent(priced: RunningRelay, admin: httpx.Client) -> None:
    created = new_key(admin, budget_usd=10.0, budget_period="monthly", rpm=100)
    for _ in range(3):
        ask(priced, created["key"])
    with as_key(priced, created["key"]) as customer:
        key = wait_until(lambda: settled(customer, 3 * PRICED_COST), 30)
    assert key["id"] == created["id"] and key["rpm"] == 100 and "key" not in key
    assert key["budget_remaining_usd"] == pytest.approx(10.0 - 3 * PRICED_COST)
    next_month = (today().replace(day=1) + timedelta(days=32)).replace(day=1)
    assert key["budget_resets_at"] == int(next_month.timestamp())
    assert admin.get(f"/admin/keys/{created['id']}").json()["spend_usd"] == key["spend_usd"]


def test_the_admin_key_sees_itself_without_limits(priced: RunningRelay) -> None:
    with as_key(priced, ADMIN_KEY) as customer:
        key = customer.get("/v1/key").json()
        subscription = customer.get("/v1/dashboard/billing/subscription").json()
    assert key["id"] == "admin" and key["status"] == "active"
    assert key["budget_usd"] is None and key["rpm"] is None and key["models"] == []
    assert subscription["hard_limit_usd"] == NO_BUDGET


def test_customer_routes_refuse_missing_disabled_and_unknown_keys(
    priced: RunningRelay, admin: httpx.Client
) -> None:
    created = new_key(admin)
    admin.post(f"/admin/keys/{created['id']}/disable")
    routes = [
        "/v1/key",
        "/v1/key/usage",
        "/v1/key/requests",
        "/v1/dashboard/billing/subscription",
        "/v1/dashboard/billing/usage",
    ]
    for route in routes:
        assert httpx.get(priced.url + route).json()["error"]["code"] == "invalid_api_key"
        with as_key(priced, created["key"]) as disabled:
            refused = disabled.get(route)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "key_disabled"
        with as_key(priced, "sk-not-a-real-key-000000000000000") as stranger:
            assert stranger.get(route).status_code == 401


def test_usage_and_requests_show_only_the_callers_key(
    priced: RunningRelay, admin: httpx.Client
) -> None:
    mine, theirs = new_key(admin), new_key(admin)
    sent = [ask(priced, mine["key"]), ask(priced, mine["key"], stream=True)]
    ask(priced, theirs["key"])
    wait_for_records(admin, mine["id"], 2)
    wait_for_records(admin, theirs["id"], 1)
    with as_key(priced, mine["key"]) as customer:
        rows = customer.get("/v1/key/usage", params={"group_by": "key,model"}).json()["data"]
        snooping = customer.get("/v1/key/usage", params={"key_id": theirs["id"]}).json()
        log = customer.get("/v1/key/requests", params={"limit": 1}).json()
        rest = customer.get("/v1/key/requests", params={"cursor": log["next_cursor"]}).json()
        bad = customer.get("/v1/key/usage", params={"group_by": "colour"})
    assert [(r["key_id"], r["model"], r["requests"]) for r in rows] == [(mine["id"], "priced", 2)]
    assert rows[0]["cost_usd"] == pytest.approx(2 * PRICED_COST)
    assert snooping["data"][0]["requests"] == 2  # still their own
    assert log["has_more"] is True and rest["has_more"] is False
    assert [r["request_id"] for r in log["data"] + rest["data"]] == list(reversed(sent))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"


def test_billing_subscription_reports_the_budget_and_expiry(
    priced: RunningRelay, admin: httpx.Client
) -> None:
    budgeted = new_key(admin, budget_usd=25.5, expires_at=4_000_000_000)
    unlimited = new_key(admin)
    for path in ("/v1/dashboard/billing/subscription", "/dashboard/billing/subscription"):
        with as_key(priced, budgeted["key"]) as customer:
            subscription = customer.get(path).json()
        assert subscription == {
            "object": "billing_subscription",
            "has_payment_method": True,
            "hard_limit_usd": 25.5,
            "soft_limit_usd": 25.5,
            "system_hard_limit_usd": 25.5,
            "access_until": 4_000_000_000,
        }
    with as_key(priced, unlimited["key"]) as customer:
        subscription = customer.get("/v1/dashboard/billing/subscription").json()
    assert subscription["hard_limit_usd"] == NO_BUDGET and subscription["access_until"] == 0


def test_billing_usage_in_cents_per_day_and_model(
    priced: RunningRelay, admin: httpx.Client
) -> None:
    created = new_key(admin, budget_usd=20.0, budget_period="monthly")
    for model in ("priced", "priced", "cheap"):
        ask(priced, created["key"], model)
    wait_for_records(admin, created["id"], 3)
    start = today() - timedelta(days=2)
    end = today() + timedelta(days=1)
    params = {"start_date": start.date().isoformat(), "end_date": end.date().isoformat()}
    with as_key(priced, created["key"]) as customer:
        usage = customer.get("/v1/dashboard/billing/usage", params=params).json()
        default = customer.get("/v1/dashboard/billing/usage").json()
        subscription = customer.get("/v1/dashboard/billing/subscription").json()
        key = wait_until(lambda: settled(customer, usage["total_usage"] / 100), 30)
    assert usage["object"] == "list"
    assert [day["timestamp"] for day in usage["daily_costs"]] == [
        int((start + timedelta(days=n)).timestamp()) for n in range(3)
    ]
    items = {item["name"]: item["cost"] for item in usage["daily_costs"][-1]["line_items"]}
    assert items["priced"] == pytest.approx(2 * PRICED_COST * 100)
    assert set(items) == {"priced", "cheap"}
    assert usage["daily_costs"][0]["line_items"] == []
    spent_cents = sum(items.values())
    assert usage["total_usage"] == pytest.approx(spent_cents)
    assert default["total_usage"] == pytest.approx(spent_cents)
    # What a chat front end shows as the balance: hard limit minus usage in dollars.
    balance = subscription["hard_limit_usd"] - usage["total_usage"] / 100
    assert balance == pytest.approx(key["budget_remaining_usd"])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"start_date": "2026-02-30"}, "start_date"),
        ({"start_date": "2026-01-01", "end_date": "tomorrow"}, "end_date"),
        ({"start_date": "2026-01-10", "end_date": "2026-01-10"}, "end_date"),
        ({"start_date": "2024-01-01", "end_date": "2026-01-10"}, "end_date"),
    ],
)
def test_billing_usage_names_a_bad_date(
    priced: RunningRelay, admin: httpx.Client, params: dict, param: str
) -> None:
    with as_key(priced, new_key(admin)["key"]) as customer:
        response = customer.get("/v1/dashboard/billing/usage", params=params)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_the_openapi_document_lists_every_route(priced: RunningRelay, admin: httpx.Client) -> None:
    document = admin.get("/admin/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    served = {
        ("post", "/admin/keys"), ("get", "/admin/keys"), ("get", "/admin/keys/{id}"),
        ("patch", "/admin/keys/{id}"), ("delete", "/admin/keys/{id}"),
        ("post", "/admin/keys/{id}/disable"), ("post", "/admin/keys/{id}/enable"),
        ("post", "/admin/keys/{id}/rotate"), ("get", "/admin/usage"),
        ("get", "/admin/requests"), ("get", "/admin/requests.csv"), ("get", "/admin/models"),
        ("get", "/admin/openapi.json"), ("get", "/v1/key"), ("get", "/v1/key/usage"),
        ("get", "/v1/key/requests"), ("get", "/v1/dashboard/billing/subscription"),
        ("get", "/v1/dashboard/billing/usage"), ("get", "/dashboard/billing/subscription"),
        ("get", "/dashboard/billing/usage"),
    }  # fmt: skip
    listed = {(m, path) for path, ops in document["paths"].items() for m in ops}
    assert listed == served
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["responses"], (method, path)
            for response in operation["responses"].values():
                for content in response["content"].values():
                    ref = content["schema"].get("$ref")
                    assert ref is None or ref.removeprefix("#/components/schemas/") in schemas
    key = schemas["KeyObject"]
    created = new_key(admin)
    assert set(key["required"]) <= set(created) and set(created) - {"key"} <= set(key["properties"])
    create_body = document["paths"]["/admin/keys"]["post"]["requestBody"]
    assert create_body["content"]["application/json"]["schema"]["$ref"].endswith("KeyCreate")
    assert schemas["KeyCreate"]["required"] == ["name"]
