"""The supervisor's book over its Unix socket, as a worker uses it: a lease given back with a
posted (unanswered) release is free for the worker's very next call, and a settled
reservation's cost is what the budget holds afterwards."""

from __future__ import annotations

from pathlib import Path

from llmrelay.gate.limit_book import Limits
from llmrelay.gate.machine_book import (
    MachineBookServer,
    MachineBudgetBook,
    MachineClient,
    MachineLimitBook,
)


async def _nothing_spent() -> int:
    return 0


async def test_a_posted_release_frees_the_slot_for_the_next_call(tmp_path: Path) -> None:
    server = MachineBookServer(tmp_path / "book.sock")
    await server.start()
    client = MachineClient(tmp_path / "book.sock")
    limits = MachineLimitBook(client)
    one_at_a_time = Limits(None, None, 1)
    try:
        for turn in range(50):
            first = await limits.admit("key", one_at_a_time, f"lease-{turn}", 0)
            second = await limits.admit("key", one_at_a_time, f"other-{turn}", 0)
            assert first.verdict == 0 and second.verdict != 0
            await limits.release("key", f"lease-{turn}", first.window_ends, 0)
    finally:
        await client.close()
        await server.close()


async def test_settled_costs_are_what_the_budget_holds(tmp_path: Path) -> None:
    server = MachineBookServer(tmp_path / "book.sock")
    await server.start()
    client = MachineClient(tmp_path / "book.sock")
    budgets = MachineBudgetBook(client)
    try:
        for turn in range(10):
            granted, _ = await budgets.reserve("acct", 1000, 100, f"r{turn}", _nothing_spent)
            assert granted
            await budgets.settle("acct", f"r{turn}", 7)
        state = await budgets.state("acct", _nothing_spent)
        assert (state.spent, state.reserved) == (70, 0)
    finally:
        await client.close()
        await server.close()
