"""What a customer sees with their own key: the key and what it has spent, its own usage and
request log (never another key's), and the billing routes chat front ends read a balance from."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

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


CUSTOMER_ROUTES = (
    "/v1/key",
    "/v1/key/usage",
    "/v1/key/requests",
    "/v1/dashboard/billing/subscription",
    "/v1/dashboard/billing/usage",
    "/dashboard/billing/subscription",
    "/dashboard/billing/usage",
    "/v1/models",
    "/v1/models/priced",
)


def test_the_ip_allowlist_covers_every_route_a_key_reads(
    priced: RunningRelay, admin: httpx.Client
) -> None:
    """A key used from outside its `allowed_ips` reads nothing: not its request log, usage,
    limits, balance or models (chat refuses it too)."""
    elsewhere = new_key(admin, allowed_ips=["10.9.9.0/24"])
    here = new_key(admin, allowed_ips=["10.9.9.0/24", "127.0.0.0/8"])
    with as_key(priced, elsewhere["key"]) as stolen, as_key(priced, here["key"]) as owner:
        chat = {"model": "priced", "messages": [{"role": "user", "content": "hi"}]}
        assert stolen.post("/v1/chat/completions", json=chat).status_code == 403
        for path in CUSTOMER_ROUTES:
            refused = stolen.get(path)
            assert refused.status_code == 403, f"{path}: {refused.status_code} {refused.text}"
            assert refused.json()["error"]["code"] == "ip_not_allowed"
            assert owner.get(path).status_code == 200, path


@pytest.mark.parametrize("limit", ["²", "١٢", "0", "1001", "9" * 5000, "-1"])
def test_a_bad_limit_is_a_400(priced: RunningRelay, admin: httpx.Client, limit: str) -> None:
    """`str.isdigit` is true for '²' and Arabic-Indic digits: those were a 500."""
    with as_key(priced, new_key(admin)["key"]) as customer:
        answer = customer.get("/v1/key/requests", params={"limit": limit})
    assert answer.status_code == 400, f"{answer.status_code} {answer.text[:200]}"
    assert answer.json()["error"]["param"] == "limit"


@pytest.mark.parametrize("row_id", [2**63, -(2**63) - 1, -1])
def test_a_cursor_beyond_64_bits_is_a_400(
    priced: RunningRelay, admin: httpx.Client, row_id: int
) -> None:
    """A crafted cursor whose row id does not fit the database's integers was a 500."""
    cursor = base64.urlsafe_b64encode(f"[1.0,{row_id}]".encode()).decode().rstrip("=")
    with as_key(priced, new_key(admin)["key"]) as customer:
        answer = customer.get("/v1/key/requests", params={"cursor": cursor})
    assert answer.status_code == 400, f"{answer.status_code} {answer.text[:200]}"
    assert answer.json()["error"]["param"] == "cursor"


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


def _spent(relay: RunningRelay, name: str, costs: dict[float, float]) -> None:
    """Ledger records for the key named `name`, {seconds ago: cost}, written straight to the
    database before the relay first reads the key's spend."""
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    try:
        with engine.begin() as connection:
            key_id = connection.execute(
                sa.text("SELECT id FROM api_keys WHERE name = :n"), {"n": name}
            ).scalar_one()
            connection.execute(
                sa.text(
                    "INSERT INTO usage_records (request_id, created_at, key_id, key_name, model,"
                    " stream, status, prompt_tokens, completion_tokens, total_tokens,"
                    " latency_ms, client_disconnected, usage_estimated, cost_usd) VALUES"
                    " (:r, :t, :k, :n, 'priced', 0, 200, 100, 500, 600, 10, 0, 0, :c)"
                ),
                [
                    {"r": "req_" + uuid.uuid4().hex, "t": time.time() - ago, "k": key_id,
                     "n": name, "c": cost}
                    for ago, cost in costs.items()
                ],
            )  # fmt: skip
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("period", "remaining"), [("total", 0.3), ("daily", 0.9), ("weekly", 0.9), ("monthly", 0.9)]
)
def test_a_front_end_shows_the_balance_the_relay_enforces(
    priced: RunningRelay, period: str, remaining: float
) -> None:
    """Chat front ends show `hard_limit_usd - total_usage / 100`, with usage from the 1st of
    the month (the route's default). $0.60 spent 40 days ago and $0.10 just now: whatever the
    budget's period, that lands on what the relay would still let the key spend."""
    name = "billing-" + uuid.uuid4().hex[:8]
    made = priced.cli("keys", "create", "--name", name, "--budget-usd", "1",
                      "--budget-period", period)  # fmt: skip
    secret = made.stdout.strip().splitlines()[-1]
    _spent(priced, name, {40 * 86400: 0.6, 1: 0.1})
    with as_key(priced, secret) as customer:
        left = customer.get("/v1/key").json()["budget_remaining_usd"]
        subscription = customer.get("/v1/dashboard/billing/subscription").json()
        usage = customer.get("/v1/dashboard/billing/usage").json()
    assert left == pytest.approx(remaining)
    assert subscription["soft_limit_usd"] == subscription["hard_limit_usd"]
    shown = subscription["hard_limit_usd"] - usage["total_usage"] / 100
    assert shown == pytest.approx(left), f"a front end shows ${shown:.2f} left; ${left} is"


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
        ("get", "/admin/status"), ("post", "/admin/reload"),
        ("get", "/admin/openapi.json"), ("get", "/v1/key"), ("get", "/v1/key/usage"),
        ("get", "/v1/key/requests"), ("get", "/v1/dashboard/billing/subscription"),
        ("get", "/v1/dashboard/billing/usage"), ("get", "/dashboard/billing/subscription"),
        ("get", "/dashboard/billing/usage"),
        ("post", "/admin/accounts"), ("get", "/admin/accounts"), ("get", "/admin/accounts/{id}"),
        ("patch", "/admin/accounts/{id}"), ("delete", "/admin/accounts/{id}"),
        ("post", "/admin/accounts/{id}/topup"), ("get", "/admin/accounts/{id}/history"),
        ("post", "/admin/redemption-codes"), ("get", "/admin/redemption-codes"),
        ("delete", "/admin/redemption-codes/{id}"),
        ("get", "/v1/account"), ("post", "/v1/account/redeem"),
        ("post", "/admin/accounts/{id}/members"), ("get", "/admin/accounts/{id}/members"),
        ("patch", "/admin/accounts/{id}/members/{member_id}"),
        ("delete", "/admin/accounts/{id}/members/{member_id}"),
        ("post", "/v1/account/session"), ("get", "/v1/account/session"),
        ("delete", "/v1/account/session"), ("post", "/v1/account/invite"),
        ("get", "/v1/account/keys"), ("post", "/v1/account/keys"),
        ("patch", "/v1/account/keys/{id}"), ("post", "/v1/account/keys/{id}/disable"),
        ("post", "/v1/account/keys/{id}/enable"), ("post", "/v1/account/keys/{id}/rotate"),
        ("get", "/v1/account/usage"),
        ("get", "/v1/account/members"), ("post", "/v1/account/members"),
        ("patch", "/v1/account/members/{member_id}"),
        ("delete", "/v1/account/members/{member_id}"),
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
