"""The usage ledger's table: batched idempotent inserts and summaries (blocking calls)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from llmrelay.store.database import unavailable
from llmrelay.store.schema import usage_records

COLUMNS = tuple(c.name for c in usage_records.columns if c.name != "id")
DEFAULTS = {
    "usage_estimated": False,
    "client_disconnected": False,
    "cost_usd": 0.0,
    "endpoint": "chat",
}
"""For outbox records written before a column existed."""


class UsageStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _insert_ignoring_duplicates(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(usage_records).on_conflict_do_nothing(
                index_elements=["request_id"]
            )
        return sqlite.insert(usage_records).on_conflict_do_nothing(index_elements=["request_id"])

    def insert_many(self, records: list[dict[str, Any]]) -> None:
        """All of them in one transaction, or none (duplicates of stored ones are skipped)."""
        rows = [
            {name: record.get(name, DEFAULTS.get(name)) for name in COLUMNS} for record in records
        ]
        with self.engine.begin() as connection:
            connection.execute(self._insert_ignoring_duplicates(), rows)

    def insert_each(self, records: list[Any]) -> list[tuple[Any, Exception]]:
        """Each record in a transaction of its own; the ones that cannot be stored, with why.

        An error that says the database itself is unavailable is raised instead: it would
        refuse every record, good or bad."""
        refused = []
        for record in records:
            try:
                self.insert_many([record])
            except Exception as exc:
                if unavailable(exc):
                    raise
                refused.append((record, exc))
        if len(refused) == len(records):
            self.check_table()  # nothing went in: make sure the records are what is wrong
        return refused

    def has_table(self) -> bool:
        """Whether the ledger's table exists (raises if the database cannot be reached)."""
        return sa.inspect(self.engine).has_table(usage_records.name)

    def check_table(self) -> None:
        """Raise if the ledger's table cannot be read (a database or schema problem)."""
        with self.engine.connect() as connection:
            connection.execute(sa.select(usage_records.c.id).limit(1)).all()

    def summary(self, since: float | None = None) -> list[dict[str, Any]]:
        """Per key and model: requests, errors and tokens."""
        u = usage_records.c
        query = (
            sa.select(
                u.key_name,
                u.model,
                sa.func.count().label("requests"),
                sa.func.sum(sa.case((u.status >= 400, 1), else_=0)).label("errors"),
                sa.func.sum(u.prompt_tokens).label("prompt_tokens"),
                sa.func.sum(u.completion_tokens).label("completion_tokens"),
                sa.func.sum(u.total_tokens).label("total_tokens"),
                sa.func.sum(u.cost_usd).label("cost_usd"),
            )
            .group_by(u.key_name, u.model)
            .order_by(u.key_name, u.model)
        )
        if since is not None:
            query = query.where(u.created_at >= since)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def spend_since(self, key_id: str, since: float, field: str = "key_id") -> float:
        """The key's (or an account's, `field="account_id"`) recorded cost since `since`
        (Unix seconds), in USD."""
        u = usage_records.c
        query = sa.select(sa.func.coalesce(sa.func.sum(u.cost_usd), 0.0)).where(
            u[field] == key_id, u.created_at >= since
        )
        with self.engine.connect() as connection:
            return float(connection.execute(query).scalar() or 0.0)
