"""Usage aggregates and the request log read the same on SQLite and PostgreSQL: UTC day and
hour buckets (midnight exactly, a moment before it), filters, current key names, and pages
that neither skip nor repeat records that share a timestamp."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from llmrelay.store.keys import KeyStore
from llmrelay.store.usage import UsageStore
from llmrelay.store.usage_queries import UsageFilter, UsageQueries

MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC).timestamp()


def record(n: int, created_at: float, **fields: Any) -> dict[str, Any]:
    return {
        "request_id": f"req_{n}",
        "created_at": created_at,
        "key_id": "key_a",
        "key_name": "a",
        "model": "gpt-5",
        "provider": "mock",
        "upstream_model": "mock-echo",
        "stream": False,
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "latency_ms": 3.0,
        "client_disconnected": False,
        "cost_usd": 0.25,
        **fields,
    }


@pytest.fixture()
def queries(engine: sa.Engine) -> UsageQueries:
    UsageStore(engine).insert_many(
        [
            record(1, MIDNIGHT - 0.4),  # the day before, by less than a second
            record(2, MIDNIGHT),
            record(3, MIDNIGHT + 3599.9, cached_tokens=4, reasoning_tokens=2),
            record(4, MIDNIGHT + 3600, model="qwen3-max", status=502, error_code="x"),
            record(5, MIDNIGHT + 7200, key_id="key_b", key_name="b", cost_usd=1.0),
        ]
    )
    return UsageQueries(engine)


def test_days_split_at_utc_midnight(queries: UsageQueries) -> None:
    rows = queries.aggregate(UsageFilter(), ("day",))
    assert [(r["day"], r["requests"]) for r in rows] == [(MIDNIGHT - 86400, 1), (MIDNIGHT, 4)]
    today = rows[1]
    assert today["errors"] == 1 and today["cost_usd"] == pytest.approx(1.75)
    assert today["cached_tokens"] == 4 and today["reasoning_tokens"] == 2
    assert today["prompt_tokens"] == 40 and today["total_tokens"] == 60


def test_hours_and_models(queries: UsageQueries) -> None:
    rows = queries.aggregate(UsageFilter(start=MIDNIGHT), ("hour", "model"))
    assert [(r["hour"] - MIDNIGHT, r["model"], r["requests"]) for r in rows] == [
        (0, "gpt-5", 2),
        (3600, "qwen3-max", 1),
        (7200, "gpt-5", 1),
    ]


def test_no_groups_is_one_row_of_totals_even_when_empty(queries: UsageQueries) -> None:
    [total] = queries.aggregate(UsageFilter())
    assert total["requests"] == 5 and total["cost_usd"] == pytest.approx(2.0)
    [empty] = queries.aggregate(UsageFilter(start=MIDNIGHT + 86400))
    assert empty["requests"] == 0 and empty["cost_usd"] == 0 and empty["total_tokens"] == 0


def test_by_key_uses_the_current_name(engine: sa.Engine, queries: UsageQueries) -> None:
    key, _ = KeyStore(engine).create("renamed")
    UsageStore(engine).insert_many([record(9, MIDNIGHT, key_id=key.id, key_name="old-name")])
    KeyStore(engine).update(key.id, {"name": "new-name"})
    rows = {r["key_id"]: r for r in queries.aggregate(UsageFilter(), ("key",))}
    assert rows[key.id]["key_name"] == "new-name"
    assert rows["key_a"]["key_name"] == "a"  # a deleted key keeps its ledger name
    assert rows["key_b"]["cost_usd"] == pytest.approx(1.0)


def test_filters(queries: UsageQueries) -> None:
    def count(where: UsageFilter) -> int:
        return queries.aggregate(where)[0]["requests"]

    assert count(UsageFilter(key_id="key_b")) == 1
    assert count(UsageFilter(model="qwen3-max")) == 1
    assert count(UsageFilter(status="error")) == 1
    assert count(UsageFilter(status="ok")) == 4
    assert count(UsageFilter(start=MIDNIGHT, end=MIDNIGHT + 3600)) == 2


def test_pages_are_newest_first_without_gaps_or_repeats(engine: sa.Engine) -> None:
    UsageStore(engine).insert_many([record(n, MIDNIGHT + n // 3) for n in range(20)])
    queries = UsageQueries(engine)
    seen: list[str] = []
    after = None
    while True:
        rows, after = queries.records(UsageFilter(), 7, after)
        seen += [row["request_id"] for row in rows]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 20
    times = [int(name.split("_")[1]) // 3 for name in seen]
    assert times == sorted(times, reverse=True)
