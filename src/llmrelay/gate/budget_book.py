"""Where budget accounts live: in this process, or in Redis for many replicas.

An account is one key's spending in one budget period: `spent` (settled, in nano-dollars)
and `reserved` (the worst-case cost of requests still running). A reservation succeeds only
if `spent + reserved + amount <= budget`, checked and taken in one atomic step: the event
loop's single thread here, one Lua script in Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

Seed = Callable[[], Awaitable[int]]
"""Reads an account's settled spend from the usage ledger, for an account seen first."""


@dataclass(slots=True)
class AccountState:
    spent: int = 0
    reserved: int = 0
    stale: bool = False
    """The key's budget changed: `spent` is read again from the ledger before the next use
    (requests made while it had no budget reserved nothing, yet spent)."""


class BudgetBook(Protocol):
    async def reserve(
        self, account: str, budget: int, amount: int, reservation: str, seed: Seed
    ) -> tuple[bool, AccountState]: ...

    async def settle(self, account: str, reservation: str, actual: int) -> None: ...

    async def state(self, account: str, seed: Seed) -> AccountState: ...

    async def mark_stale(self, account: str) -> None: ...


class LocalBudgetBook:
    """Accounts in this process's memory: exact for one relay process per database."""

    def __init__(self) -> None:
        self._accounts: dict[str, AccountState] = {}
        self._reservations: dict[str, int] = {}
        self._seeding: dict[str, asyncio.Future[AccountState]] = {}

    async def _account(self, account: str, seed: Seed) -> AccountState:
        state = self._accounts.get(account)
        if state is not None and not state.stale:
            return state
        pending = self._seeding.get(account)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[AccountState] = asyncio.get_running_loop().create_future()
        self._seeding[account] = future
        try:
            spent = await seed()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters see it, nobody else is told
            raise
        finally:
            del self._seeding[account]
        state = self._accounts.setdefault(account, AccountState())
        state.spent, state.stale = spent, False  # what is reserved stays reserved
        future.set_result(state)
        return state

    async def mark_stale(self, account: str) -> None:
        state = self._accounts.get(account)
        if state is not None:
            state.stale = True

    async def reserve(
        self, account: str, budget: int, amount: int, reservation: str, seed: Seed
    ) -> tuple[bool, AccountState]:
        state = await self._account(account, seed)
        if state.spent + state.reserved + amount > budget:
            return False, state
        state.reserved += amount
        self._reservations[reservation] = amount
        return True, state

    async def settle(self, account: str, reservation: str, actual: int) -> None:
        amount = self._reservations.pop(reservation, 0)
        state = self._accounts.get(account)
        if state is not None:
            state.reserved -= amount
            state.spent += actual

    async def state(self, account: str, seed: Seed) -> AccountState:
        return await self._account(account, seed)


_RESERVE = """
if redis.call('HEXISTS', KEYS[1], 'spent') == 0 then
  if ARGV[6] == '' then return {-1, 0, 0} end
  redis.call('HSET', KEYS[1], 'spent', ARGV[6])
  redis.call('HSETNX', KEYS[1], 'reserved', 0)
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, id in ipairs(stale) do
  local held = redis.call('HGET', KEYS[1], 'r:' .. id)
  if held then
    redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held))
    redis.call('HDEL', KEYS[1], 'r:' .. id)
  end
  redis.call('ZREM', KEYS[2], id)
end
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent'))
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved'))
local amount = tonumber(ARGV[2])
if spent + reserved + amount > tonumber(ARGV[1]) then return {0, spent, reserved} end
redis.call('HINCRBY', KEYS[1], 'reserved', amount)
redis.call('HSET', KEYS[1], 'r:' .. ARGV[3], amount)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {1, spent, reserved + amount}
"""

_SETTLE = """
local held = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if held then
  redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held))
  redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'spent') == 1 then
  redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
end
return 1
"""

ACCOUNT_TTL_SECONDS = 40 * 86400
"""An idle account is dropped after this; the next use seeds it again from the ledger."""


class RedisBudgetBook:
    """Accounts in Redis, shared by every replica; a reservation a dead replica left
    behind is released once `reservation_ttl` has passed."""

    def __init__(self, client: Any, reservation_ttl: float, prefix: str = "llmrelay:") -> None:
        self.client = client
        self.reservation_ttl = reservation_ttl
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    def _keys(self, account: str) -> list[str]:
        base = f"{self.prefix}budget:{account}"
        return [base, base + ":reservations"]

    async def reserve(
        self, account: str, budget: int, amount: int, reservation: str, seed: Seed
    ) -> tuple[bool, AccountState]:
        now = time.time()
        args: list[Any] = [budget, amount, reservation, now, now + self.reservation_ttl, ""]
        args.append(ACCOUNT_TTL_SECONDS)
        keys = self._keys(account)
        verdict, spent, reserved = await self._reserve(keys=keys, args=args)
        if verdict == -1:
            args[5] = await seed()
            verdict, spent, reserved = await self._reserve(keys=keys, args=args)
        return verdict == 1, AccountState(int(spent), int(reserved))

    async def settle(self, account: str, reservation: str, actual: int) -> None:
        await self._settle(keys=self._keys(account), args=[reservation, actual])

    async def mark_stale(self, account: str) -> None:
        """Forget the settled spend (reservations stay): the next use reads it again."""
        await self.client.hdel(self._keys(account)[0], "spent")

    async def state(self, account: str, seed: Seed) -> AccountState:
        key = self._keys(account)[0]
        spent, reserved = await self.client.hmget(key, "spent", "reserved")
        if spent is None:
            await self.client.hsetnx(key, "spent", await seed())
            await self.client.hsetnx(key, "reserved", 0)
            await self.client.expire(key, ACCOUNT_TTL_SECONDS)
            spent, reserved = await self.client.hmget(key, "spent", "reserved")
        return AccountState(int(spent or 0), int(reserved or 0))
