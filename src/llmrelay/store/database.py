"""Opening the database (SQLite by default, PostgreSQL for many replicas) and migrating it.

Every call here is blocking; the app runs them in worker threads, never on the event loop.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
UNDEFINED_TABLE = "42P01"
"""PostgreSQL's SQLSTATE for a missing table (SQLite says so with an OperationalError)."""
MIGRATION_LOCK_KEY = 0x6C6C6D72656C6179
"""The advisory lock replicas migrate under: "llmrelay" in ASCII, as a 64-bit key."""
SQLITE_BUSY_SECONDS = 10
"""How long SQLite waits for another process's write to end before it fails one."""
CONNECT_TIMEOUT_SECONDS = 5
"""A PostgreSQL host that does not answer fails a query after this, rather than the TCP
timeout's minutes."""


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the database to WAL (a no-op once it is). The processes opening a new database
    together race to switch it, and SQLite tells all but one 'database is locked' at once,
    without waiting (https://www.sqlite.org/c3ref/busy_handler.html: it would deadlock):
    they try again until the switch is done."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def create_private_file(path: Path) -> None:
    """Create `path` (and its directory) readable by this user only, unless it exists.

    SQLite gives its `-wal` and `-shm` files the database file's own mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def open_engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sa.make_url(url).database
        if path and path != ":memory:":
            create_private_file(Path(path))
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _tune_sqlite)
        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


def unavailable(exc: BaseException) -> bool:
    """The database could not be reached, is busy, or has lost its tables (recreated empty,
    until migrated again), as opposed to refusing the data or the query: worth trying the
    same again later."""
    if missing_table(exc):
        return True
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    transient = (sa.exc.OperationalError, sa.exc.DisconnectionError, sa.exc.TimeoutError, OSError)
    return isinstance(exc, transient)


def missing_table(exc: BaseException) -> bool:
    """A table the query needs is not there: the database was recreated empty, say."""
    if isinstance(exc, sa.exc.ProgrammingError):
        return getattr(exc.orig, "sqlstate", None) == UNDEFINED_TABLE
    return isinstance(exc, sa.exc.OperationalError) and "no such table" in str(exc.orig)


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already).

    Processes starting together take turns: the first migrates, the others then find the
    schema at its newest and do nothing."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection, _migration_lock(connection), connection.begin():
        if connection.dialect.name == "sqlite":
            # The write lock from the start to the commit, alembic_version read included
            # (https://www.sqlite.org/lang_transaction.html): pysqlite begins no transaction
            # before DDL, so each CREATE TABLE would commit on its own, interleaved
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _migration_lock(connection: sa.Connection) -> Iterator[None]:
    """On PostgreSQL, a session-level advisory lock held around the migration (PostgreSQL's
    manual, "Explicit Locking", 13.3.5 Advisory Locks): without it, replicas migrating a new
    database at once all create the same tables, and all but one fail."""
    if connection.dialect.name != "postgresql":
        yield
        return
    key = {"key": MIGRATION_LOCK_KEY}
    connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), key)
    connection.commit()  # the lock outlives the transaction; the migration has its own
    try:
        yield
    finally:
        try:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), key)
            connection.commit()
        except sa.exc.DBAPIError:
            connection.invalidate()  # closed rather than pooled: its session's lock goes
