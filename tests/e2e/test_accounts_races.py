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

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.accounts_support import (
    account_key,
    account_spend,
    admin,
    chat,
    new_account,
    spend_until_refused,
    sqlite_url,
)
from tests.e2e.races import race
from tests.e2e.test_accounts import me
from tests.e2e.test_budgets_limits import COST, PRICE, priced_config
from tests.mocks.openai_upstream import MockOpenAI


def with_a_priced_broken_model(config: dict[str, Any]) -> dict[str, Any]:
    """`config` and a priced model whose upstream always answers 500."""
    broken = {"provider": "mock", "upstream_model": "mock-500", "price": PRICE}
    return {**config, "models": {**config["models"], "priced-broken": broken}}


@pytest.fixture(scope="module")
def relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    config = with_a_priced_broken_model(priced_config(mock_openai))
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


def failures_give_their_reservations_back(relays: list[RunningRelay], database_url: str) -> None:
    """Twenty requests that fail upstream at once (over `relays`) each reserve their worst
    case: once they have failed, the account serves exactly as many requests as an account
    that saw no failure."""
    failing = new_account(relays[0], balance_usd=4 * COST)
    untouched = new_account(relays[0], balance_usd=4 * COST)
    key = account_key(relays[0], failing["id"])
    fresh = account_key(relays[0], untouched["id"])
    for relay in relays:  # every relay knows both keys
        wait_until(lambda r=relay: chat(r, key, "nothing-here").startswith("404"), 5)

    async def failures() -> list[str]:
        calls = (asyncio.to_thread(chat, relays[i % len(relays)], key, "priced-broken")
                 for i in range(20))  # fmt: skip
        return await asyncio.gather(*calls)

    outcomes = asyncio.run(failures())
    failed = [o for o in outcomes if o.startswith(("500", "502"))]
    assert failed and all(
        o.startswith("429 insufficient_quota") for o in outcomes if o not in failed
    )
    assert me(relays[-1], key)["reserved_usd"] == 0
    served = spend_until_refused(relays, key)
    assert served >= 1 and served == spend_until_refused(relays, fresh)
    rows = len(outcomes) + served + 1  # the failures, those served and the last refusal
    assert account_spend(database_url, failing["id"], rows) <= served * COST + 1e-9
    wait_until(lambda: account_spend(database_url, failing["id"], rows) >= served * COST - 1e-9)


def top_up_during_a_race_is_never_lost(relays: list[RunningRelay], database_url: str) -> None:
    """A top-up made while 300 requests race (over `relays`) for ten requests' worth: all of
    its money is spent afterwards, none of it lost."""
    account = new_account(relays[0], balance_usd=10 * COST)
    keys = [account_key(relays[0], account["id"]) for _ in range(5)]
    for relay in relays:
        wait_until(lambda r=relay: chat(r, keys[-1], "nothing-here").startswith("404"), 5)
    path = f"/admin/accounts/{account['id']}/topup"
    topped = threading.Timer(0.05, admin, (relays[-1], "POST", path), {"amount_usd": 5 * COST})
    topped.start()
    asyncio.run(race([relay.base_url for relay in relays], keys, 300))
    topped.join()
    after = spend_until_refused(relays, keys[0])  # spend what is left, then one refusal
    spend = account_spend(database_url, account["id"], 300 + after + 1)
    assert spend <= 15 * COST + 1e-9
    assert spend > 14 * COST - 1e-9, "the top-up's money was never spent: lost"
    history = admin(relays[0], "GET", f"/admin/accounts/{account['id']}/history").json()["data"]
    assert sorted(c["amount_usd"] for c in history) == pytest.approx([5 * COST, 10 * COST])


def test_a_failed_request_gives_its_reservation_back(relay: RunningRelay) -> None:
    failures_give_their_reservations_back([relay], sqlite_url(relay))


def test_a_top_up_during_the_race_is_never_lost(relay: RunningRelay) -> None:
    top_up_during_a_race_is_never_lost([relay], sqlite_url(relay))


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
