"""An account's money under racing relays: two replicas sharing PostgreSQL and Redis, and two
workers of one machine without Redis. Nothing overspends, however many race; failures give
their reservations back and a top-up during a race is never lost, over both replicas; a code
redeemed at once on both replicas credits once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.accounts_support import (
    account_key,
    account_spend,
    admin,
    new_account,
    sqlite_url,
)
from tests.e2e.races import race
from tests.e2e.test_accounts_races import (
    failures_give_their_reservations_back,
    top_up_during_a_race_is_never_lost,
    with_a_priced_broken_model,
)
from tests.e2e.test_budgets_limits import COST, priced_config
from tests.e2e.test_workers import WORKERS, worker_pids
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import REDIS_URL, fresh_postgres_database, redis_or_skip


async def _require_redis() -> None:
    client = await redis_or_skip()
    await client.aclose()


@pytest.fixture(scope="module")
def replicas(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[tuple[list[RunningRelay], str]]:
    asyncio.run(_require_redis())
    with fresh_postgres_database() as database_url:
        env = {
            "LLMRELAY_ADMIN_KEY": ADMIN_KEY,
            "LLMRELAY_REDIS_URL": REDIS_URL,
            "LLMRELAY_DATABASE_URL": database_url,
        }
        config = with_a_priced_broken_model(priced_config(mock_openai))
        first = start_relay(config, tmp_path_factory.mktemp("replica-a"), **env)
        try:
            second = start_relay(config, tmp_path_factory.mktemp("replica-b"), **env)
        except BaseException:
            stop_relay(first)
            raise
        yield [first, second], database_url
        stop_relay(second)
        stop_relay(first)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "money",
    [{"balance_usd": 10 * COST}, {"budget_usd": 10 * COST, "budget_period": "monthly"}],
    ids=["prepaid", "budget"],
)
def test_replicas_cannot_overspend_an_account(replicas, money: dict) -> None:
    """Ten requests' worth shared by five keys, 300 requests at once over two replicas."""
    relays, database_url = replicas
    account = new_account(relays[0], **money)
    keys = [account_key(relays[0], account["id"]) for _ in range(5)]
    urls = [relay.base_url for relay in relays]
    wait_until(lambda: httpx.get(urls[1] + "/account", headers=_bearer(keys[-1])).is_success, 5)
    succeeded, refused = asyncio.run(race(urls, keys, 300))
    assert 1 <= succeeded <= 10
    assert set(refused) == {"insufficient_quota"}
    spend = account_spend(database_url, account["id"], 300)
    assert spend == pytest.approx(succeeded * COST) and spend <= 10 * COST + 1e-9
    if "budget_usd" in money:
        return
    admin(relays[0], "POST", f"/admin/accounts/{account['id']}/topup", amount_usd=3 * COST)

    def let_through_on_the_other() -> bool | None:
        succeeded, _ = asyncio.run(race([relays[1].base_url], keys[:1], 1))
        return succeeded == 1 or None

    wait_until(let_through_on_the_other, 5)  # the top-up reached the other replica


@pytest.mark.postgres
def test_failures_on_both_replicas_give_their_reservations_back(replicas) -> None:
    relays, database_url = replicas
    failures_give_their_reservations_back(relays, database_url)


@pytest.mark.postgres
def test_a_top_up_during_a_race_over_both_replicas_is_never_lost(replicas) -> None:
    relays, database_url = replicas
    top_up_during_a_race_is_never_lost(relays, database_url)


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.mark.postgres
def test_a_code_redeemed_on_both_replicas_at_once_credits_once(replicas) -> None:
    relays, _ = replicas
    account = new_account(relays[0], balance_usd=0)
    key = account_key(relays[0], account["id"])
    made = admin(relays[0], "POST", "/admin/redemption-codes", amount_usd=2, count=1)
    code = made.json()["data"][0]["code"]
    wait_until(
        lambda: httpx.get(relays[1].base_url + "/account", headers=_bearer(key)).is_success, 5
    )

    async def redeem_everywhere() -> list[int]:
        async with httpx.AsyncClient(headers=_bearer(key), timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post(relays[i % 2].base_url + "/account/redeem", json={"code": code})
                    for i in range(20)
                )
            )
        return [answer.status_code for answer in answers]

    statuses = asyncio.run(redeem_everywhere())
    assert statuses.count(200) == 1 and statuses.count(400) == 19
    shown = admin(relays[1], "GET", f"/admin/accounts/{account['id']}").json()
    assert shown["balance_usd"] == 2 and shown["credits_usd"] == 2


@pytest.fixture(scope="module")
def fleet(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    config = priced_config(mock_openai)
    config["server"]["workers"] = WORKERS
    relay = start_relay(config, tmp_path_factory.mktemp("workers"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    wait_until(lambda: len(worker_pids(relay)) == WORKERS, timeout=60)
    yield relay
    stop_relay(relay)


def test_workers_without_redis_cannot_overdraw_a_prepaid_balance(fleet: RunningRelay) -> None:
    balance = 10 * COST
    account = new_account(fleet, balance_usd=balance)
    keys = [account_key(fleet, account["id"]) for _ in range(5)]
    succeeded, refused = asyncio.run(race([fleet.base_url], keys, 200))
    assert 1 <= succeeded <= 10
    assert set(refused) == {"insufficient_quota"} and len(refused) == 200 - succeeded
    spend = account_spend(sqlite_url(fleet), account["id"], 200)
    assert spend == pytest.approx(succeeded * COST) and spend <= balance + 1e-9
