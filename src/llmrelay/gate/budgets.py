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
from llmrelay.store.accounts import Account
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


def account_budget_exceeded(account: Account) -> RelayError:
    """The account's budget, or its prepaid balance, does not cover the request: 429
    `insufficient_quota`, as OpenAI answers when an organisation's credits run out (clients
    know it means "pay", not "wait"); the message says it was the account's, not the key's."""
    if account.prepaid:
        balance = nano_to_usd(account.credits_nano)
        message = (
            f"You exceeded your current quota: the prepaid balance of account {account.name!r} "
            f"(${balance:g} credited in all) does not cover this request. Top it up, redeem a "
            "code, or lower max_tokens."
        )
    else:
        period = PERIOD_WORDS.get(account.budget_period, "")
        message = (
            f"You exceeded your current quota: the budget of account {account.name!r}, "
            f"${account.budget_usd:g}{period}, does not cover this request. Raise the budget "
            "or lower max_tokens."
        )
    return RelayError(429, message, type="insufficient_quota", code="insufficient_quota")


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
        return _book_account(key.id, key.budget_period, now)

    def _seed(self, key: ApiKey, since: float) -> Seed:
        return self._seed_of(key.id, since, "key_id")

    def _seed_of(self, holder: str, since: float, field: str) -> Seed:
        async def spent_so_far() -> int:
            spent = await asyncio.to_thread(self._recorded_spend, holder, since, field)
            return usd_to_nano(spent)

        return spent_so_far

    def _recorded_spend(self, holder: str, since: float, field: str = "key_id") -> float:
        """The ledger's sum plus what still waits in the outbox, read in that order reversed:
        a segment moved into the database meanwhile counts twice (a slightly early refusal),
        never not at all (an overspend). Blocking."""
        outbox = self.outbox
        waiting = pending_cost(outbox, holder, since, field) if outbox is not None else 0.0
        return waiting + self.usage.spend_since(holder, since, field)

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

    async def reserve_account(self, account: Account, amount: int) -> BudgetReservation | None:
        """Hold `amount` of the account's budget, or of its prepaid balance (a `total`
        budget whose limit is its credits), or raise `insufficient_quota` naming it."""
        limit = account.limit_nano
        if limit is None:
            return None
        book, start, _ = _book_account(account.book_id, account.period, self.clock())
        reservation = BudgetReservation(book, next_id(), amount)
        seed = self._seed_of(account.id, start, "account_id")
        granted, _ = await self.book.reserve(book, limit, amount, reservation.id, seed)
        if not granted:
            raise account_budget_exceeded(account)
        return reservation

    async def account_standing(self, account: Account) -> BudgetStanding:
        """The account's spend this period and what is left of its budget or balance."""
        book, start, resets_at = _book_account(account.book_id, account.period, self.clock())
        state = await self.book.state(book, self._seed_of(account.id, start, "account_id"))
        return _standing(state.spent, state.reserved, account.limit_nano, resets_at)

    async def settle(self, reservation: BudgetReservation | None, actual: int) -> None:
        if reservation is None or reservation.settled:
            return
        reservation.settled = True
        await self.book.settle(reservation.account, reservation.id, actual)

    async def budget_changed(self, key: ApiKey) -> None:
        """The key's (or its account's) budget or period changed: read the spend again
        before the next use."""
        now = self.clock()
        await self.book.mark_stale(self._account(key, now)[0])
        account = key.account
        if account is not None:
            await self.book.mark_stale(_book_account(account.book_id, account.period, now)[0])

    async def standing(self, key: ApiKey) -> BudgetStanding:
        now = self.clock()
        account, start, resets_at = self._account(key, now)
        state = await self.book.state(account, self._seed(key, start))
        limit = None if key.budget_usd is None else usd_to_nano(key.budget_usd)
        return _standing(state.spent, state.reserved, limit, resets_at)


def _book_account(holder: str, period: str, now: float) -> tuple[str, float, float | None]:
    """The book's name for `holder`'s spending in the period holding `now`."""
    start, resets_at = period_bounds(period, now)
    return f"{holder}:{period}:{int(start)}", start, resets_at


def _standing(
    spent: int, reserved: int, limit: int | None, resets_at: float | None
) -> BudgetStanding:
    remaining = None if limit is None else max(limit - spent - reserved, 0)
    return BudgetStanding(
        spend_usd=nano_to_usd(spent),
        reserved_usd=nano_to_usd(reserved),
        remaining_usd=None if remaining is None else nano_to_usd(remaining),
        resets_at=resets_at if limit is not None else None,
    )
