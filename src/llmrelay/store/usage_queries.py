"""Reading the usage ledger back: aggregates by time, model and key, and the request log.

Blocking calls (run them in worker threads). SQLAlchemy Core only, so the same queries run
on SQLite and PostgreSQL; the one thing the two spell differently, rounding a Unix time down
to its hour or day, is a small construct compiled per dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from llmrelay.store.schema import accounts, api_keys, usage_records

GROUPS = ("day", "hour", "model", "key", "endpoint", "account")
BUCKET_SECONDS = {"day": 86400, "hour": 3600}
Cursor = tuple[float, int]
"""(created_at, id) of the last record a page showed."""


class UnixBucket(FunctionElement[int]):
    """`floor(seconds / size) * size`: the start of the UTC hour or day holding `seconds`."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "unix_bucket"


@compiles(UnixBucket)
def _bucket(element: UnixBucket, compiler: SQLCompiler, **kw: Any) -> str:
    seconds, size = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(floor({seconds} / {size}) AS BIGINT) * {size}"


@compiles(UnixBucket, "sqlite")
def _bucket_sqlite(element: UnixBucket, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite may be built without floor(); CAST truncates, which is floor for times >= 0.
    seconds, size = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST({seconds} / {size} AS INTEGER) * {size}"


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """Which ledger records a query covers: `start` inclusive, `end` exclusive."""

    start: float | None = None
    end: float | None = None
    key_id: str | None = None
    account_id: str | None = None
    model: str | None = None
    endpoint: str | None = None
    status: Literal["ok", "error"] | None = None
    key_ids: tuple[str, ...] | None = None
    """Only these keys' records (an account's keys, for its members); None: any key."""

    def where(self) -> list[sa.ColumnElement[bool]]:
        u = usage_records.c
        conditions = []
        if self.start is not None:
            conditions.append(u.created_at >= self.start)
        if self.end is not None:
            conditions.append(u.created_at < self.end)
        if self.key_id is not None:
            conditions.append(u.key_id == self.key_id)
        if self.account_id is not None:
            conditions.append(u.account_id == self.account_id)
        if self.key_ids is not None:
            conditions.append(u.key_id.in_(self.key_ids))
        if self.model is not None:
            conditions.append(u.model == self.model)
        if self.endpoint is not None:
            conditions.append(u.endpoint == self.endpoint)
        if self.status == "ok":
            conditions.append(u.status < 400)
        elif self.status == "error":
            conditions.append(u.status >= 400)
        return conditions


def _sum(column: sa.ColumnElement[Any], label: str) -> sa.Label[Any]:
    return sa.func.coalesce(sa.func.sum(column), 0).label(label)


def _totals() -> list[sa.Label[Any]]:
    u = usage_records.c
    return [
        sa.func.count(u.id).label("requests"),
        _sum(sa.case((u.status >= 400, 1), else_=0), "errors"),
        _sum(u.prompt_tokens, "prompt_tokens"),
        _sum(u.completion_tokens, "completion_tokens"),
        _sum(u.cached_tokens, "cached_tokens"),
        _sum(u.reasoning_tokens, "reasoning_tokens"),
        _sum(u.total_tokens, "total_tokens"),
        _sum(u.cost_usd, "cost_usd"),
    ]


def _group_columns(group_by: tuple[str, ...]) -> tuple[list[Any], list[Any]]:
    """(selected, grouped-by) columns for the requested groups."""
    u = usage_records.c
    selected: list[Any] = []
    grouped: list[Any] = []
    for group in group_by:
        if group in BUCKET_SECONDS:
            bucket = UnixBucket(u.created_at, sa.literal_column(str(BUCKET_SECONDS[group])))
            selected.append(bucket.label(group))
            grouped.append(bucket)
        elif group in ("model", "endpoint"):
            column = u.model if group == "model" else u.endpoint
            selected.append(column)
            grouped.append(column)
        elif group == "key":
            name = sa.func.coalesce(sa.func.max(api_keys.c.name), sa.func.max(u.key_name))
            selected += [u.key_id, name.label("key_name")]
            grouped.append(u.key_id)
        elif group == "account":
            selected += [u.account_id, sa.func.max(accounts.c.name).label("account_name")]
            grouped.append(u.account_id)
    return selected, grouped


def _row(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    for name in ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens"):
        values[name] = int(values[name])
    values["cached_tokens"] = int(values["cached_tokens"])
    values["reasoning_tokens"] = int(values["reasoning_tokens"])
    values["cost_usd"] = round(float(values["cost_usd"]), 9)
    return values


def _page_after(cursor: Cursor) -> sa.ColumnElement[bool]:
    u = usage_records.c
    created_at, row_id = cursor
    return sa.or_(u.created_at < created_at, sa.and_(u.created_at == created_at, u.id < row_id))


class UsageQueries:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def aggregate(self, where: UsageFilter, group_by: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Totals per group, ordered by time bucket, then model, then key.

        Usage is what keys did: a request refused for want of a valid key belongs to no key,
        reached no model and cost nothing, so it is left out here (the request log lists it).
        With no groups: one row of totals (zeros when nothing matched)."""
        selected, grouped = _group_columns(group_by)
        authenticated = usage_records.c.key_id.is_not(None)
        query = sa.select(*selected, *_totals()).where(authenticated, *where.where())
        joined: Any = usage_records
        if "key" in group_by:
            joined = joined.outerjoin(api_keys, api_keys.c.id == usage_records.c.key_id)
        if "account" in group_by:
            joined = joined.outerjoin(accounts, accounts.c.id == usage_records.c.account_id)
        if "key" in group_by or "account" in group_by:
            query = query.select_from(joined)
        if grouped:
            query = query.group_by(*grouped).order_by(*grouped)
        with self.engine.connect() as connection:
            return [_row(row) for row in connection.execute(query)]

    def records(
        self, where: UsageFilter, limit: int, after: Cursor | None = None
    ) -> tuple[list[dict[str, Any]], Cursor | None]:
        """Up to `limit` records, newest first, after `after`; and the cursor of the next page
        (None when this page is the last)."""
        u = usage_records.c
        query = sa.select(usage_records).where(*where.where())
        if after is not None:
            query = query.where(_page_after(after))
        query = query.order_by(u.created_at.desc(), u.id.desc()).limit(limit + 1)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, (rows[-1]["created_at"], rows[-1]["id"])
