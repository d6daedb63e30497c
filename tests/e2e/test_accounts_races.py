"""The issue's correctness races on one relay: an account budget for ten requests spread over
five keys, and a prepaid balance, each against 300 requests at once; a failed request gives
its reservation back; a top-up that lands during a race is never lost. And what a customer is
shown: `/v1/key` and the billing routes report the tighter of the key and its account."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.accounts_support import (
    account_key,
    account_spend,
    admin,
    new_account,
    race,
    sqlite_url,
)
from tests.e2e.test_accounts import chat, me
from tests.e2e.test_budgets_limits import COST, PRICE, priced_config
from tests.mocks.openai_upstream import MockOpenAI


@pytest.fixture(scope="module")
def relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    config = priced_config(mock_openai)
    config["models"]["priced-broken"] = {
        "provider": "mock",
        "upstream_model": "mock-500",
        "price": PRICE,
    }
    running = start_relay(config, tmp_path_factory.mktemp("races"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "money",
    [{"budget_usd": 10 * COST, "budget_period": "monthly"}, {"balance_usd": 10 * COST}],
    ids=["budget", "prepaid"],
)
def test_ten_requests_of_money_shared_by_five_keys_hold_against_300(
    relay: RunningRelay, money: dict[str, Any]
) -> None:
    account = new_account(relay, **money)
    keys = [account_key(relay, account["id"]) for _ in range(5)]
    succeeded, refused = asyncio.run(race([relay.base_url], keys, 300))
    assert 1 <= succeeded <= 10 and set(refused) == {"insufficient_quota"}
    spend = account_spend(sqlite_url(relay), account["id"], 300)
    assert spend == pytest.approx(succeeded * COST) and spend <= 10 * COST + 1e-9
    shown = me(relay, keys[0])
    left = shown["balance_usd"] if "balance_usd" in money else shown["budget_remaining_usd"]
    assert left >= -1e-9 and left == pytest.approx(10 * COST - spend, abs=1e-9)


def _spend_until_refused(relay: RunningRelay, key: str) -> int:
    """Requests one after another until the money runs out: how many went through."""
    served = 0
    while chat(relay, key) == "ok":
        served += 1
    return served


def test_a_failed_request_gives_its_reservation_back(relay: RunningRelay) -> None:
    """Twenty requests that fail upstream at once each reserve their worst case: once they
    have failed, the account serves exactly as many requests as one that saw no failure."""
    failing = new_account(relay, balance_usd=4 * COST)
    untouched = new_account(relay, balance_usd=4 * COST)
    key = account_key(relay, failing["id"])

    async def failures() -> list[str]:
        return await asyncio.gather(
            *(asyncio.to_thread(chat, relay, key, "priced-broken") for _ in range(20))
        )

    outcomes = asyncio.run(failures())
    assert all(o.startswith(("500", "502")) for o in outcomes[:1]), outcomes
    assert me(relay, key)["reserved_usd"] == 0
    served = _spend_until_refused(relay, key)
    assert served >= 1 and served == _spend_until_refused(
        relay, account_key(relay, untouched["id"])
    )
    rows = len(outcomes) + served + 1  # the failures, the requests served, the refusal
    assert account_spend(sqlite_url(relay), failing["id"], rows) == pytest.approx(served * COST)


def test_a_top_up_during_the_race_is_never_lost(relay: RunningRelay) -> None:
    account = new_account(relay, balance_usd=10 * COST)
    keys = [account_key(relay, account["id"]) for _ in range(5)]
    path = f"/admin/accounts/{account['id']}/topup"
    topped = threading.Timer(0.05, admin, (relay, "POST", path), {"amount_usd": 5 * COST})
    topped.start()
    asyncio.run(race([relay.base_url], keys, 300))
    topped.join()
    after = _spend_until_refused(relay, keys[0])  # spend what is left, then one refusal
    spend = account_spend(sqlite_url(relay), account["id"], 300 + after + 1)
    assert spend <= 15 * COST + 1e-9
    assert spend > 14 * COST - 1e-9, "the top-up's money was never spent: lost"
    history = admin(relay, "GET", f"/admin/accounts/{account['id']}/history").json()["data"]
    assert sorted(c["amount_usd"] for c in history) == pytest.approx([5 * COST, 10 * COST])


def test_a_customer_is_shown_the_tighter_of_the_key_and_its_account(relay: RunningRelay) -> None:
    account = new_account(relay, balance_usd=3 * COST)
    roomy = account_key(relay, account["id"], budget_usd=100 * COST)
    tight = account_key(relay, account["id"], budget_usd=COST)
    unbudgeted = account_key(relay, account["id"])
    for key, expected in ((roomy, 3 * COST), (tight, COST), (unbudgeted, 3 * COST)):
        shown = httpx.get(relay.url + "/v1/key", headers=_bearer(key)).json()
        assert shown["budget_remaining_usd"] == pytest.approx(expected)
        subscription = httpx.get(
            relay.url + "/v1/dashboard/billing/subscription", headers=_bearer(key)
        ).json()
        assert subscription["hard_limit_usd"] == pytest.approx(expected)
    assert chat(relay, roomy) == "ok"  # the account now has 2 requests' worth left
    shown = httpx.get(relay.url + "/v1/key", headers=_bearer(roomy)).json()
    assert shown["budget_remaining_usd"] == pytest.approx(2 * COST)
    assert shown["spend_usd"] == pytest.approx(COST)
