"""Builds the gate with its counters in this process, in Redis when one is configured, or in
the supervisor of a machine's workers (gate/machine_book.py)."""

from __future__ import annotations

from typing import Any

from llmrelay.config import Settings
from llmrelay.gate.admission import Gate
from llmrelay.gate.budget_book import BudgetBook, LocalBudgetBook, RedisBudgetBook
from llmrelay.gate.budgets import Budgets
from llmrelay.gate.limit_book import LimitBook, LocalLimitBook, RedisLimitBook
from llmrelay.gate.machine_book import MachineBudgetBook, MachineClient, MachineLimitBook
from llmrelay.metering.tokens import TokenCounter
from llmrelay.store.usage import UsageStore
from llmrelay.worker_role import worker_role

REDIS_CONNECTIONS = 64


def redis_client(url: str) -> Any:
    try:
        import redis.asyncio as redis
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "server.redis_url is set but the redis package is missing: "
            "pip install 'llmrelay[redis]'"
        ) from None
    # Requests wait for a free connection rather than fail when many run at once.
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=REDIS_CONNECTIONS, timeout=10, health_check_interval=30
    )
    return redis.Redis(connection_pool=pool)


def build_gate(
    settings: Settings, usage: UsageStore, tokens: TokenCounter
) -> tuple[Gate, Budgets, Any]:
    """The gate, its budgets, and the Redis client it uses (None in-process)."""
    client = None
    limits: LimitBook
    book: BudgetBook
    role = worker_role()
    if settings.server.redis_url:
        client = redis_client(settings.server.redis_url)
        limits = RedisLimitBook(client)
        book = RedisBudgetBook(client, settings.billing.reservation_ttl_seconds)
    elif role is not None and role.book is not None:  # a worker: the supervisor counts
        machine = MachineClient(role.book)
        limits, book = MachineLimitBook(machine), MachineBudgetBook(machine)
    else:
        limits = LocalLimitBook()
        book = LocalBudgetBook()
    budgets = Budgets(book, usage)
    return Gate(limits, budgets, tokens, settings.billing), budgets, client
