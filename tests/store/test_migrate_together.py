"""Processes that start together on one new database (replicas on PostgreSQL, workers on
one SQLite file) migrate it once: each waits for the one migrating, then finds the schema at
its newest. Without that, all but one of four failed with duplicate tables, every time. Then
they all store the admin key's digest, and none fails on the row another stored."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from llmrelay.gate.auth import ensure_admin_key
from llmrelay.store.database import MIGRATIONS, migrate, open_engine
from llmrelay.store.generation import GenerationCounter
from llmrelay.store.keys import KeyStore, hash_key
from tests.services import fresh_postgres_database

PROCESSES = 4


ADMIN_KEY = "sk-" + "a" * 43


def migrate_when_all_are_ready(url: str, start: Barrier, outcomes: Queue) -> None:
    """One process's start: wait for the others, open the database, migrate."""
    engine = open_engine(url)
    try:
        start.wait(timeout=60)
        migrate(engine)
        outcomes.put("migrated")
    except Exception as exc:
        outcomes.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def store_the_admin_key_when_all_are_ready(
    url: str, directory: Path, admin_key: str | None, start: Barrier, outcomes: Queue
) -> None:
    """One process's start past the migration: wait for the others, store the admin key's
    digest (`admin_key`, or one it makes); what it made, if anything."""
    engine = open_engine(url)
    try:
        generation = GenerationCounter(directory / "keys.generation")
        start.wait(timeout=60)
        made = ensure_admin_key(KeyStore(engine), generation, admin_key)
        outcomes.put(("stored", made))
    except Exception as exc:
        outcomes.put((f"{type(exc).__name__}: {exc}", None))
    finally:
        engine.dispose()


@contextmanager
def new_database(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'new.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def advisory_locks(connection: sa.Connection) -> int:
    query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
    query += "(SELECT oid FROM pg_database WHERE datname = current_database())"
    return connection.execute(sa.text(query)).scalar_one()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_starting_together_migrate_a_new_database_once(kind: str, tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")  # processes of their own, as replicas are
    with new_database(kind, tmp_path) as url:
        start, outcomes = spawn.Barrier(PROCESSES), spawn.Queue()
        processes = [
            spawn.Process(target=migrate_when_all_are_ready, args=(url, start, outcomes))
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        try:
            results = [outcomes.get(timeout=120) for _ in processes]
        finally:
            for process in processes:
                process.join(30)
        assert results == ["migrated"] * PROCESSES
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        engine = open_engine(url)
        try:
            migrate(engine)  # a later start: nothing to do (and, on PostgreSQL, the lock freed)
            with engine.connect() as connection:
                versions = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert versions.scalars().all() == [head]
                if kind == "postgres":
                    assert advisory_locks(connection) == 0
        finally:
            engine.dispose()


def stored_admin_hash(url: str) -> str | None:
    engine = open_engine(url)
    try:
        return KeyStore(engine).admin_hash()
    finally:
        engine.dispose()


@pytest.mark.parametrize("admin_key", [ADMIN_KEY, None], ids=["configured", "made"])
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_starting_together_all_store_the_admin_key(
    kind: str, admin_key: str | None, tmp_path: Path
) -> None:
    """With the admin key configured, each stores its digest; with none, one makes a key and
    prints it, and that key's digest is the one stored."""
    spawn = multiprocessing.get_context("spawn")
    with new_database(kind, tmp_path) as url:
        engine = open_engine(url)
        migrate(engine)
        engine.dispose()
        start, outcomes = spawn.Barrier(PROCESSES), spawn.Queue()
        processes = [
            spawn.Process(
                target=store_the_admin_key_when_all_are_ready,
                args=(url, tmp_path, admin_key, start, outcomes),
            )
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        try:
            results = [outcomes.get(timeout=120) for _ in processes]
        finally:
            for process in processes:
                process.join(30)
        assert [outcome for outcome, _ in results] == ["stored"] * PROCESSES
        made = [secret for _, secret in results if secret is not None]
        if admin_key is not None:
            assert made == [] and stored_admin_hash(url) == hash_key(admin_key)
        else:
            assert len(made) == 1 and stored_admin_hash(url) == hash_key(made[0])
