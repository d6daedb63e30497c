"""Budgets: concurrent reservations never overspend, settle to the actual cost, reset on
schedule, and start from what the ledger already recorded."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from llmrelay.gate.budget_book import LocalBudgetBook, RedisBudgetBook
from llmrelay.gate.budgets import Budgets
from llmrelay.metering.prices import NANO_PER_USD
from llmrelay.protocol.errors import RelayError
from llmrelay.store.database import migrate, open_engine
from llmrelay.store.keys import ApiKey
from llmrelay.store.usage import UsageStore
from tests.services import redis_or_skip

pytestmark = pytest.mark.asyncio(loop_scope="session")

CENT = NANO_PER_USD // 100


def key(budget: float | None = 0.10, period: str = "total", key_id: str = "") -> ApiKey:
    key_id = key_id or "key_" + secrets.token_hex(4)
    return ApiKey(key_id, key_id, "h", "sk-x", budget_usd=budget, budget_period=period)


@pytest.fixture()
def usage(tmp_path: Path) -> UsageStore:
    engine = open_engine(f"sqlite:///{tmp_path / 'usage.db'}")
    migrate(engine)
    return UsageStore(engine)


def record(key_id: str, created_at: float, cost: float) -> dict:
    return {
        "request_id": "req_" + secrets.token_hex(6),
        "created_at": created_at,
        "key_id": key_id,
        "stream": False,
        "status": 200,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "total_tokens": 2,
        "latency_ms": 1.0,
        "cost_usd": cost,
    }


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


async def race(budgets: Budgets, who: ApiKey, amount: int, requests: int) -> list[bool]:
    async def one() -> bool:
        try:
            await budgets.reserve(who, amount)
        except RelayError as error:
            assert error.status == 429 and error.code == "insufficient_quota"
            return False
        return True

    return await asyncio.gather(*(one() for _ in range(requests)))


async def test_two_hundred_racing_requests_get_exactly_what_the_budget_covers(usage):
    budgets = Budgets(LocalBudgetBook(), usage)
    granted = await race(budgets, key(0.10), CENT, 200)
    assert sum(granted) == 10


async def test_settling_frees_the_unused_part_of_a_reservation(usage):
    budgets = Budgets(LocalBudgetBook(), usage)
    who = key(0.10)
    held = await budgets.reserve(who, 6 * CENT)
    with pytest.raises(RelayError):
        await budgets.reserve(who, 5 * CENT)
    await budgets.settle(held, 2 * CENT)
    standing = await budgets.standing(who)
    assert standing.spend_usd == pytest.approx(0.02)
    assert standing.reserved_usd == 0
    assert standing.remaining_usd == pytest.approx(0.08)
    assert await budgets.reserve(who, 8 * CENT) is not None


async def test_settling_twice_counts_once(usage):
    budgets = Budgets(LocalBudgetBook(), usage)
    who = key(0.10)
    held = await budgets.reserve(who, CENT)
    await budgets.settle(held, CENT)
    await budgets.settle(held, CENT)
    assert (await budgets.standing(who)).spend_usd == pytest.approx(0.01)


async def test_a_failed_request_settles_to_nothing(usage):
    budgets = Budgets(LocalBudgetBook(), usage)
    who = key(0.01)
    held = await budgets.reserve(who, CENT)
    await budgets.settle(held, 0)
    assert (await budgets.standing(who)).remaining_usd == pytest.approx(0.01)


async def test_a_key_without_budget_reserves_nothing(usage):
    budgets = Budgets(LocalBudgetBook(), usage)
    assert await budgets.reserve(key(None), 10**15) is None


async def test_spend_starts_from_the_ledger(usage):
    who = key(1.0, "total")
    usage.insert_many([record(who.id, time.time() - 90 * 86400, 0.25), record("other", 1, 5.0)])
    budgets = Budgets(LocalBudgetBook(), usage)
    standing = await budgets.standing(who)
    assert standing.spend_usd == pytest.approx(0.25)
    assert standing.remaining_usd == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("period", "start", "boundary"),
    [
        ("daily", datetime(2026, 11, 25, 23, 0, tzinfo=UTC), datetime(2026, 11, 26, tzinfo=UTC)),
        ("weekly", datetime(2026, 11, 29, 12, 0, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)),
        ("monthly", datetime(2026, 12, 31, 22, 0, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
async def test_a_spent_budget_comes_back_when_its_period_turns(usage, period, start, boundary):
    clock = Clock(start)
    budgets = Budgets(LocalBudgetBook(), usage, clock=clock)
    who = key(0.05, period)
    held = await budgets.reserve(who, 5 * CENT)
    await budgets.settle(held, 5 * CENT)
    with pytest.raises(RelayError):
        await budgets.reserve(who, CENT)
    assert (await budgets.standing(who)).resets_at == boundary.timestamp()
    clock.now = boundary.timestamp() - 1
    with pytest.raises(RelayError):
        await budgets.reserve(who, CENT)
    clock.now = boundary.timestamp()
    assert await budgets.reserve(who, 5 * CENT) is not None


async def test_last_periods_ledger_rows_do_not_count_in_this_one(usage):
    clock = Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    who = key(1.0, "daily")
    yesterday = datetime(2026, 11, 24, 23, 59, tzinfo=UTC).timestamp()
    today = datetime(2026, 11, 25, 0, 1, tzinfo=UTC).timestamp()
    usage.insert_many([record(who.id, yesterday, 0.5), record(who.id, today, 0.125)])
    budgets = Budgets(LocalBudgetBook(), usage, clock=clock)
    assert (await budgets.standing(who)).spend_usd == pytest.approx(0.125)


async def test_racing_first_requests_read_the_ledger_once(usage):
    reads = 0
    who = key(0.10)

    class CountingUsage(UsageStore):
        def spend_since(self, key_id: str, since: float, field: str = "key_id") -> float:
            nonlocal reads
            reads += 1
            return super().spend_since(key_id, since, field)

    budgets = Budgets(LocalBudgetBook(), CountingUsage(usage.engine))
    assert sum(await race(budgets, who, CENT, 50)) == 10
    assert reads == 1


@pytest.fixture()
async def redis_client():
    client = await redis_or_skip()
    yield client
    await client.aclose()


async def test_replicas_sharing_redis_never_overspend_together(usage, redis_client):
    prefix = f"llmrelay-test-{secrets.token_hex(4)}:"
    who = key(0.10)
    replicas = [Budgets(RedisBudgetBook(redis_client, 60, prefix=prefix), usage) for _ in range(4)]
    results = await asyncio.gather(*(race(b, who, CENT, 50) for b in replicas))
    assert sum(sum(r) for r in results) == 10
    assert (await replicas[0].standing(who)).remaining_usd == 0


async def test_redis_settles_and_seeds_from_the_ledger(usage, redis_client):
    prefix = f"llmrelay-test-{secrets.token_hex(4)}:"
    who = key(1.0)
    usage.insert_many([record(who.id, time.time(), 0.5)])
    budgets = Budgets(RedisBudgetBook(redis_client, 60, prefix=prefix), usage)
    held = await budgets.reserve(who, 40 * CENT)
    with pytest.raises(RelayError):
        await budgets.reserve(who, 20 * CENT)
    await budgets.settle(held, 10 * CENT)
    standing = await budgets.standing(who)
    assert standing.spend_usd == pytest.approx(0.6)
    assert standing.remaining_usd == pytest.approx(0.4)


async def test_redis_frees_reservations_a_dead_replica_left(usage, redis_client):
    prefix = f"llmrelay-test-{secrets.token_hex(4)}:"
    who = key(0.10)
    dead = Budgets(RedisBudgetBook(redis_client, -1, prefix=prefix), usage)
    await dead.reserve(who, 10 * CENT)  # never settled, and already past its lifetime
    alive = Budgets(RedisBudgetBook(redis_client, 60, prefix=prefix), usage)
    assert await alive.reserve(who, 10 * CENT) is not None


@pytest.mark.parametrize("backend", ["local", "redis"])
async def test_a_changed_budget_reads_spend_again_keeping_what_is_reserved(usage, backend):
    client = await redis_or_skip() if backend == "redis" else None
    prefix = f"llmrelay-test-{secrets.token_hex(4)}:"
    book = LocalBudgetBook() if client is None else RedisBudgetBook(client, 60, prefix=prefix)
    budgets = Budgets(book, usage)
    who = key(1.0)
    held = await budgets.reserve(who, 10 * CENT)
    # Spent meanwhile without a reservation (the key had no budget for a while):
    usage.insert_many([record(who.id, time.time(), 0.5)])
    assert (await budgets.standing(who)).spend_usd == 0
    await budgets.budget_changed(who)
    standing = await budgets.standing(who)
    assert standing.spend_usd == pytest.approx(0.5)
    assert standing.reserved_usd == pytest.approx(0.10)
    await budgets.settle(held, 10 * CENT)
    assert (await budgets.standing(who)).spend_usd == pytest.approx(0.6)
    if client is not None:
        await client.aclose()


async def test_spend_still_in_the_outbox_counts(usage, tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    who = key(1.0, "daily")  # the record from 1970 is another period's
    now = time.time()
    lines = [record(who.id, now, 0.25), record("other", now, 9.0), record(who.id, 1.0, 9.0)]
    (outbox / "outbox-abc-00000001.jsonl").write_bytes(
        b"".join(orjson.dumps(line) + b"\n" for line in lines)
    )
    usage.insert_many([record(who.id, now, 0.5)])
    budgets = Budgets(LocalBudgetBook(), usage, outbox=outbox)
    assert (await budgets.standing(who)).spend_usd == pytest.approx(0.75)
