"""Rate limits and budgets shared by a machine's worker processes, without Redis.

`llmrelay serve --workers N` runs N relay processes on one port. Each request's admission
must see every worker's counts, as replicas see each other's in Redis. Without Redis, the
supervisor process holds the counts (`MachineBookServer`: the in-process books,
`LocalLimitBook` and `LocalBudgetBook`, behind a Unix socket) and the workers ask it
(`MachineLimitBook`, `MachineBudgetBook`, over one `MachineClient` connection each). Every
check-and-take is one message, handled whole on the supervisor's single event loop, so it
is as atomic as a Lua script in Redis: no two workers can both take the last of a budget.

A budget account seen first is seeded from the ledger as in Redis: the supervisor answers
"unknown", and the worker reads the spend and asks again with it. A worker that dies gives
back what it held: its concurrency leases are released, its reservations dropped, and their
accounts read again from the ledger before their next use (the dead worker may have
recorded a request it never settled).

The wire: one JSON array a line each way; a request is `[id, operation, *arguments]`, its
answer `[id, result]` or `[id, null, error message]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from llmrelay.gate.budget_book import AccountState, LocalBudgetBook, Seed
from llmrelay.gate.limit_book import Limits, LocalLimitBook, WindowCount
from llmrelay.protocol.errors import RelayError

log = logging.getLogger("llmrelay.gate")

LINE_LIMIT = 1 << 20


class _Unseeded(Exception):
    """The account's spend is not known yet: the worker must read it from the ledger."""


def _given(spent: int | None) -> Seed:
    async def seed() -> int:
        if spent is None:
            raise _Unseeded()
        return spent

    return seed


class _Holdings:
    """What one worker holds: released if it dies."""

    def __init__(self) -> None:
        self.leases: dict[str, str] = {}
        """lease -> key id"""
        self.reservations: dict[str, str] = {}
        """reservation -> account"""


class MachineBookServer:
    """The machine's counts, served on a Unix socket to its workers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.limits = LocalLimitBook()
        self.budgets = LocalBudgetBook()
        self._server: asyncio.AbstractServer | None = None
        self._operations: dict[str, Callable[..., Awaitable[Any]]] = {
            "admit": self._admit,
            "release": self._release,
            "reserve": self._reserve,
            "settle": self._settle,
            "stale": self._stale,
            "state": self._state,
        }

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a supervisor that died
        self._server = await asyncio.start_unix_server(self._serve, self.path, limit=LINE_LIMIT)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held = _Holdings()
        try:
            while line := await reader.readline():
                answer = await self._answer(line, held)
                if answer:
                    writer.write(answer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # a worker gone (or one that wrote a line too long): what it held goes back
        finally:
            await self._give_back(held)
            writer.close()

    async def _answer(self, line: bytes, held: _Holdings) -> bytes:
        """The answer's line; none for a call that wants none (its id is null)."""
        call_id, operation, *arguments = orjson.loads(line)
        try:
            result = await self._operations[operation](held, *arguments)
        except Exception as exc:  # a bug: the worker refuses the request, the book lives on
            log.exception("machine book: %s failed", operation)
            if call_id is None:
                return b""
            return orjson.dumps([call_id, None, f"{type(exc).__name__}: {exc}"]) + b"\n"
        return b"" if call_id is None else orjson.dumps([call_id, result]) + b"\n"

    async def _admit(
        self, held: _Holdings, key_id: str, limits: list[int | None], lease: str, tokens: int
    ) -> list[Any]:
        count = await self.limits.admit(key_id, Limits(*limits), lease, tokens)
        if limits[2] is not None and count.verdict == 0:
            held.leases[lease] = key_id
        return [count.verdict, count.requests, count.tokens, count.window_ends]

    async def _release(
        self, held: _Holdings, key_id: str, lease: str | None, window: int, correction: int
    ) -> None:
        if lease is not None:
            held.leases.pop(lease, None)
        await self.limits.release(key_id, lease, window, correction)

    async def _reserve(
        self,
        held: _Holdings,
        account: str,
        budget: int,
        amount: int,
        reservation: str,
        spent: int | None,
    ) -> list[int]:
        try:
            granted, state = await self.budgets.reserve(
                account, budget, amount, reservation, _given(spent)
            )
        except _Unseeded:
            return [-1, 0, 0]
        if granted:
            held.reservations[reservation] = account
        return [int(granted), state.spent, state.reserved]

    async def _settle(self, held: _Holdings, account: str, reservation: str, actual: int) -> None:
        held.reservations.pop(reservation, None)
        await self.budgets.settle(account, reservation, actual)

    async def _stale(self, held: _Holdings, account: str) -> None:
        await self.budgets.mark_stale(account)

    async def _state(self, held: _Holdings, account: str, spent: int | None) -> list[int] | None:
        try:
            state = await self.budgets.state(account, _given(spent))
        except _Unseeded:
            return None
        return [state.spent, state.reserved]

    async def _give_back(self, held: _Holdings) -> None:
        for lease, key_id in held.leases.items():
            await self.limits.release(key_id, lease, -1, 0)
        for reservation, account in held.reservations.items():
            await self.budgets.settle(account, reservation, 0)
            await self.budgets.mark_stale(account)
        if held.leases or held.reservations:
            log.warning(
                "a worker left %d concurrency leases and %d budget reservations: released",
                len(held.leases),
                len(held.reservations),
            )


def book_unavailable(reason: str) -> RelayError:
    return RelayError(
        503,
        f"The relay's shared rate-limit and budget counts are unavailable ({reason}); "
        "retry shortly.",
        type="server_error",
        code="counters_unavailable",
    )


class MachineClient:
    """A worker's connection to the supervisor's book (opened on first use, again after a
    break): a call is one line out and its answer's line back; calls may overlap."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._opening: asyncio.Lock | None = None

    async def call(self, operation: str, *arguments: Any) -> Any:
        writer = self._writer if self._writer is not None else await self._open()
        call_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = answer
        try:
            writer.write(orjson.dumps([call_id, operation, *arguments]) + b"\n")
            return await answer
        finally:
            self._waiting.pop(call_id, None)

    async def post(self, operation: str, *arguments: Any) -> None:
        """A call that wants no answer (giving back what a request held): it is written and
        not waited for. The book handles a connection's lines in order, so this worker's
        next call finds it done; if the connection breaks first, the supervisor gives back
        everything the connection held anyway."""
        writer = self._writer if self._writer is not None else await self._open()
        writer.write(orjson.dumps([None, operation, *arguments]) + b"\n")

    async def _open(self) -> asyncio.StreamWriter:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._writer is not None:
                return self._writer
            try:
                reader, writer = await asyncio.open_unix_connection(self.path, limit=LINE_LIMIT)
            except OSError as exc:
                raise book_unavailable(exc.strerror or type(exc).__name__) from None
            self._writer = writer
            self._reading = asyncio.create_task(self._read(reader), name="machine-book")
            return writer

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                call_id, result, *error = orjson.loads(line)
                answer = self._waiting.get(call_id)
                if answer is None or answer.done():
                    continue
                if error:
                    answer.set_exception(book_unavailable(error[0]))
                else:
                    answer.set_result(result)
        except (ConnectionError, ValueError):
            pass
        finally:
            self._writer = None
            for answer in self._waiting.values():
                if not answer.done():
                    answer.set_exception(book_unavailable("the supervisor went away"))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading


class MachineLimitBook:
    """A `LimitBook` kept by the supervisor."""

    def __init__(self, client: MachineClient) -> None:
        self.client = client

    async def admit(self, key_id: str, limits: Limits, lease: str, tokens: int) -> WindowCount:
        shape = [limits.rpm, limits.tpm, limits.max_concurrent]
        verdict, requests, counted, ends = await self.client.call(
            "admit", key_id, shape, lease, tokens
        )
        return WindowCount(verdict, requests, counted, ends)

    async def release(self, key_id: str, lease: str | None, window: int, correction: int) -> None:
        await self.client.post("release", key_id, lease, window, correction)


class MachineBudgetBook:
    """A `BudgetBook` kept by the supervisor."""

    def __init__(self, client: MachineClient) -> None:
        self.client = client

    async def reserve(
        self, account: str, budget: int, amount: int, reservation: str, seed: Seed
    ) -> tuple[bool, AccountState]:
        ask = ("reserve", account, budget, amount, reservation)
        verdict, spent, reserved = await self.client.call(*ask, None)
        if verdict == -1:
            verdict, spent, reserved = await self.client.call(*ask, await seed())
        return verdict == 1, AccountState(spent, reserved)

    async def settle(self, account: str, reservation: str, actual: int) -> None:
        await self.client.post("settle", account, reservation, actual)

    async def mark_stale(self, account: str) -> None:
        await self.client.call("stale", account)

    async def state(self, account: str, seed: Seed) -> AccountState:
        found = await self.client.call("state", account, None)
        if found is None:
            found = await self.client.call("state", account, await seed())
        return AccountState(found[0], found[1])
