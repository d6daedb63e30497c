"""Stored responses of the Responses API door (blocking calls; the door runs them in worker
threads).

A response is readable only by the key that created it, and only until it expires; expired
rows are never served and are deleted as new responses are stored. A conversation is a chain
of rows: each holds its own request's input items and its final response object, and
`previous_id` points at the turn before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from llmrelay.store.schema import stored_responses

PURGE_EVERY_SECONDS = 60.0
"""Expired rows are deleted at most this often (by the write that comes along)."""
MAX_CHAIN = 10_000
"""Turns followed back from one `previous_response_id` (a guard, not a limit anyone meets)."""


@dataclass(slots=True)
class StoredResponse:
    id: str
    key_id: str
    model: str
    status: str
    previous_id: str | None
    input_items: list[dict[str, Any]]
    response: dict[str, Any]
    created_at: float


class ResponseStore:
    def __init__(self, engine: sa.Engine, ttl_seconds: float) -> None:
        self.engine = engine
        self.ttl_seconds = ttl_seconds
        self.purged_at = 0.0

    def save(self, stored: StoredResponse) -> None:
        row = {
            "id": stored.id,
            "key_id": stored.key_id,
            "model": stored.model[:200],
            "status": stored.status,
            "previous_id": stored.previous_id,
            "input_items": stored.input_items,
            "response": stored.response,
            "created_at": stored.created_at,
            "expires_at": stored.created_at + self.ttl_seconds,
        }
        with self.engine.begin() as connection:
            connection.execute(stored_responses.insert(), row)
            now = time.time()
            if now - self.purged_at >= PURGE_EVERY_SECONDS:
                self.purged_at = now
                expired = stored_responses.c.expires_at <= now
                connection.execute(stored_responses.delete().where(expired))

    def _row(self, connection: sa.Connection, response_id: str, key_id: str) -> Any:
        table = stored_responses
        query = sa.select(table.c.previous_id, table.c.input_items, table.c.response).where(
            table.c.id == response_id,
            table.c.key_id == key_id,
            table.c.expires_at > time.time(),
        )
        return connection.execute(query).first()

    def get(self, response_id: str, key_id: str) -> dict[str, Any] | None:
        """The response object, if `key_id` stored it and it has not expired."""
        with self.engine.connect() as connection:
            row = self._row(connection, response_id, key_id)
        return None if row is None else row.response

    def input_items(self, response_id: str, key_id: str) -> list[dict[str, Any]] | None:
        """The request's own input items, if `key_id` stored the response and it has not
        expired."""
        with self.engine.connect() as connection:
            row = self._row(connection, response_id, key_id)
        return None if row is None else list(row.input_items)

    def history(self, response_id: str, key_id: str) -> list[dict[str, Any]] | None:
        """Every turn's input and output items up to and including `response_id`, oldest
        first; None when it, or a turn before it, is unknown, foreign or expired."""
        turns: list[list[dict[str, Any]]] = []
        with self.engine.connect() as connection:
            current: str | None = response_id
            while current is not None and len(turns) < MAX_CHAIN:
                row = self._row(connection, current, key_id)
                if row is None:
                    return None
                turns.append(list(row.input_items) + list(row.response.get("output") or []))
                current = row.previous_id
        return [item for turn in reversed(turns) for item in turn]

    def delete(self, response_id: str, key_id: str) -> bool:
        table = stored_responses
        with self.engine.begin() as connection:
            deleted = connection.execute(
                table.delete().where(
                    table.c.id == response_id,
                    table.c.key_id == key_id,
                    table.c.expires_at > time.time(),
                )
            )
        return deleted.rowcount > 0
