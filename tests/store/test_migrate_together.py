"""Replicas that start together on one new PostgreSQL database migrate it once: each waits
for the one migrating (an advisory lock), then finds the schema at its newest."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from llmrelay.store.database import MIGRATIONS, migrate, open_engine
from tests.services import fresh_postgres_database

pytestmark = pytest.mark.postgres

REPLICAS = 4
"""Without the lock, all but one of four fail with duplicate tables, every time."""


def migrate_when_all_are_ready(url: str, start: Barrier, outcomes: Queue) -> None:
    """One replica's start: open the database, wait for the others, migrate."""
    engine = open_engine(url)
    try:
        start.wait(timeout=60)
        migrate(engine)
        outcomes.put("migrated")
    except Exception as exc:
        outcomes.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def advisory_locks(connection: sa.Connection) -> int:
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
    query += "(SELECT oid FROM pg_database WHERE datname = current_database())"
    return connection.execute(sa.text(query)).scalar_one()


def test_replicas_starting_together_migrate_a_new_database_once() -> None:
    spawn = multiprocessing.get_context("spawn")  # processes of their own, as replicas are
    with fresh_postgres_database() as url:
        start, outcomes = spawn.Barrier(REPLICAS), spawn.Queue()
        replicas = [
            spawn.Process(target=migrate_when_all_are_ready, args=(url, start, outcomes))
            for _ in range(REPLICAS)
        ]
        for replica in replicas:
            replica.start()
        try:
            results = [outcomes.get(timeout=120) for _ in replicas]
        finally:
            for replica in replicas:
                replica.join(30)
        assert results == ["migrated"] * REPLICAS
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        engine = open_engine(url)
        try:
            migrate(engine)  # a later start: nothing to do, and the lock is given back
            with engine.connect() as connection:
                versions = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert versions.scalars().all() == [head]
                assert advisory_locks(connection) == 0
        finally:
            engine.dispose()
