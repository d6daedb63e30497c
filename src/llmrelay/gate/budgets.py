"""Budgets that cannot be overspent, however many requests race.

Before a request goes upstream its worst-case cost is reserved against the key's budget for
the current period; when it ends the reservation is settled to the actual cost (zero when it
failed). A request whose worst case does not fit is refused with 429 `insufficient_quota`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmrelay.gate.budget_book import BudgetBook, Seed
from llmrelay.gate.periods import period_bounds
from llmrelay.metering.outbox import pending_cost
from llmrelay.metering.prices import nano_to_usd, usd_to_nano
from llmrelay.protocol.errors import RelayError
from llmrelay.store.keys import ApiKey
from llmrelay.store.usage import UsageStore

Clock = Callable[[], float]

_PROCESS = secrets.token_hex(6)
_counter = itertools.count()


def next_id() -> str:
    """A reservation or lease id unique across replicas (cheaper than fresh randomness)."""
    return f"{_PROCESS}-{next(_counter)}"


@dataclass(slots=True, frozen=True)
class BudgetStanding:
    """A key's money in its current period, as the admin API and the console show it."""

    spend_usd: float
    reserved_usd: float
    remaining_usd: float | None
    resets_at: float | None


@dataclass(slots=True)
class BudgetReservation:
    account: str
    id: str
    amount: int
    settled: bool = False


PERIOD_WORDS = {
    "total": "",
    "daily": " for today",
    "weekly": " for this week",
    "monthly": " for this month",
}


def budget_exceeded(key: ApiKey) -> RelayError:
    period = PERIOD_WORDS.get(key.budget_period, "")
    return RelayError(
        429,
        f"You exceeded your current quota: this key's budget of ${key.budget_usd:g}{period} "
        "does not cover this request. Raise the budget or lower max_tokens.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


class Budgets:
    def __init__(
        self,
        book: BudgetBook,
        usage: UsageStore,
        clock: Clock = time.time,
        outbox: Path | None = None,
    ) -> None:
        self.book = book
        self.usage = usage
        self.clock = clock
        self.outbox = outbox
        """The ledger's outbox: records not in the database yet count too."""

    def _account(self, key: ApiKey, now: float) -> tuple[str, float, float | None]:
        start, resets_at = period_bounds(key.budget_period, now)
        return f"{key.id}:{key.budget_period}:{int(start)}", start, resets_at

    def _seed(self, key: ApiKey, since: float) -> Seed:
        async def spent_so_far() -> int:
            return usd_to_nano(await asyncio.to_thread(self._recorded_spend, key.id, since))

        return spent_so_far

    def _recorded_spend(self, key_id: str, since: float) -> float:
        """The ledger's sum plus what still waits in the outbox, read in that order reversed:
        a segment moved into the database meanwhile counts twice (a slightly early refusal),
        never not at all (an overspend). Blocking."""
        waiting = pending_cost(self.outbox, key_id, since) if self.outbox is not None else 0.0
        return waiting + self.usage.spend_since(key_id, since)

    async def reserve(self, key: ApiKey, amount: int) -> BudgetReservation | None:
        """Hold `amount` nano-dollars of the key's budget, or raise `insufficient_quota`."""
        if key.budget_usd is None:
            return None
        account, start, _ = self._account(key, self.clock())
        reservation = BudgetReservation(account, next_id(), amount)
        granted, _ = await self.book.reserve(
            account, usd_to_nano(key.budget_usd), amount, reservation.id, self._seed(key, start)
        )
        if not granted:
            raise budget_exceeded(key)
        return reservation

    async def settle(self, reservation: BudgetReservation | None, actual: int) -> None:
        if reservation is None or reservation.settled:
            return
        reservation.settled = True
        await self.book.settle(reservation.account, reservation.id, actual)

    async def budget_changed(self, key: ApiKey) -> None:
        """The key's budget or period changed: read its spend again before the next use."""
        account, _, _ = self._account(key, self.clock())
        await self.book.mark_stale(account)

    async def standing(self, key: ApiKey) -> BudgetStanding:
        now = self.clock()
        account, start, resets_at = self._account(key, now)
        state = await self.book.state(account, self._seed(key, start))
        remaining = None
        if key.budget_usd is not None:
            remaining = max(usd_to_nano(key.budget_usd) - state.spent - state.reserved, 0)
        return BudgetStanding(
            spend_usd=nano_to_usd(state.spent),
            reserved_usd=nano_to_usd(state.reserved),
            remaining_usd=None if remaining is None else nano_to_usd(remaining),
            resets_at=resets_at if key.budget_usd is not None else None,
        )
