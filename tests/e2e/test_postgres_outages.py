"""PostgreSQL going away under a running relay: the database refusing connections, and the
database dropped and created again empty.

Routes that need the database answer 503 `store_unavailable` (with `Retry-After`) while it
refuses connections, and work again once it is back; chat keeps answering from the cached
key table, and its ledger records wait in the outbox. A database recreated empty is migrated
again by the ledger writer, and the records written after that land; until the ledger's table
is there, `/readyz` says the relay is not ready and routes that need it answer 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from llmrelay.store.database import normalise_url
from tests.conftest import (
    ADMIN_KEY,
    RunningRelay,
    relay_config,
    start_relay,
    stop_relay,
    wait_until,
)
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import POSTGRES_URL, fresh_postgres_database

pytestmark = pytest.mark.postgres

ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


@contextmanager
def server_admin() -> Iterator[sa.Connection]:
    engine = sa.create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


@contextmanager
def refusing_connections(url: str) -> Iterator[None]:
    """The database refuses new connections, and the open ones are closed."""
    name = database_name(url)
    with server_admin() as admin:
        admin.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        admin.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
    try:
        yield
    finally:
        with server_admin() as admin:
            admin.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))


def recreate_empty(url: str) -> None:
    name = database_name(url)
    with server_admin() as admin:
        admin.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.execute(sa.text(f'CREATE DATABASE "{name}"'))


def ledger_row(url: str, request_id: str) -> dict[str, Any] | None:
    """The request's ledger row, or None (also while the ledger's table is missing)."""
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.text("SELECT * FROM usage_records WHERE request_id = :r"), {"r": request_id}
            ).first()
            return dict(row._mapping) if row else None
    except sa.exc.ProgrammingError:
        return None
    finally:
        engine.dispose()


@pytest.fixture()
def database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture()
def relay(mock_openai: MockOpenAI, database: str, tmp_path) -> Iterator[RunningRelay]:
    running = start_relay(
        relay_config(mock_openai),
        tmp_path,
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
        LLMRELAY_DATABASE_URL=database,
    )
    yield running
    stop_relay(running)


def make_key(relay: RunningRelay) -> str:
    made = httpx.post(relay.url + "/admin/keys", headers=ADMIN, json={"name": "outage"})
    assert made.status_code == 201, made.text
    return made.json()["key"]


def send(relay: RunningRelay, key: str) -> httpx.Response:
    return httpx.post(
        relay.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-5", "messages": [{"role": "user", "content": "hello"}]},
    )


def chat(relay: RunningRelay, key: str) -> str:
    """One answered chat request; its request id."""
    response = send(relay, key)
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"]


def readyz(relay: RunningRelay) -> httpx.Response:
    return httpx.get(relay.url + "/readyz", headers=ADMIN, timeout=10)


def test_routes_that_need_the_database_answer_503_while_it_refuses_connections(
    relay: RunningRelay, database: str
) -> None:
    key = make_key(relay)
    customer = {"authorization": f"Bearer {key}"}
    with refusing_connections(database):
        calls = [
            ("GET", "/admin/keys", ADMIN, None),
            ("POST", "/admin/keys", ADMIN, {"name": "during-the-outage"}),
            ("GET", "/admin/usage", ADMIN, None),
            ("GET", "/admin/requests", ADMIN, None),
            ("GET", "/v1/key/usage", customer, None),
        ]
        for method, path, headers, body in calls:
            response = httpx.request(method, relay.url + path, headers=headers, json=body)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["error"]["code"] == "store_unavailable", path
            assert response.json()["error"]["type"] == "server_error", path
            assert int(response.headers["retry-after"]) >= 1, path
        assert readyz(relay).status_code == 503
        served_meanwhile = chat(relay, key)  # the key table is cached: chat needs no database
    assert wait_until(lambda: httpx.get(relay.url + "/admin/keys", headers=ADMIN).is_success)
    assert wait_until(lambda: readyz(relay).status_code == 200)
    assert wait_until(lambda: ledger_row(database, served_meanwhile))["status"] == 200


def test_a_database_recreated_empty_is_migrated_again_and_the_ledger_goes_on(
    relay: RunningRelay, database: str
) -> None:
    key = make_key(relay)
    before = chat(relay, key)
    assert wait_until(lambda: ledger_row(database, before))
    recreate_empty(database)
    not_ready = readyz(relay)
    assert not_ready.status_code == 503, "the ledger has no table to be written to"
    # Why is shown to the admin key, which the relay may already have reloaded from the
    # new, empty database (then it is unknown there, and only the verdict is shown).
    problems = not_ready.json().get("problems")
    assert problems is None or "ledger table missing: ProgrammingError" in problems
    keys = httpx.get(relay.url + "/admin/keys", headers=ADMIN)
    assert (keys.status_code, keys.json()["error"]["code"]) == (503, "store_unavailable")
    # Served from the cached key table, or refused with a 503 if this relay had a key
    # change still to load (its table is gone too): either way the request has a record.
    after = send(relay, key)
    assert after.status_code in (200, 503), after.text
    row = wait_until(lambda: ledger_row(database, after.headers["x-request-id"]))
    assert row["status"] == after.status_code
    assert readyz(relay).status_code == 200
    assert ledger_row(database, before) is None  # gone with the old database
