"""Reaching the real PostgreSQL and Redis: skip with a reason when they are not there,
unless LLMRELAY_REQUIRE_SERVICES=1 (CI), where their absence is a failure."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from llmrelay.store.database import normalise_url

POSTGRES_URL = os.environ.get(
    "LLMRELAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    return os.environ.get("LLMRELAY_REQUIRE_SERVICES") == "1"


def unavailable(what: str, why: Exception) -> None:
    message = f"{what} is not reachable ({type(why).__name__}: {why})"
    if services_required():
        pytest.fail(message + " and LLMRELAY_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message + "; start it (or point LLMRELAY_TEST_*_URL at one) to run this test")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test server; dropped afterwards."""
    admin = sa.create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    name = "llmrelay_test_" + secrets.token_hex(4)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


REDIS_URL = os.environ.get("LLMRELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def redis_or_skip():  # type: ignore[no-untyped-def]
    """An asyncio Redis client on the test server, or skip (fail in CI) without one."""
    from llmrelay.gate.setup import redis_client

    client = redis_client(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL}", exc)
    return client
