"""The same relay on PostgreSQL: migrations, keys, and the ledger over a real server."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
import sqlalchemy as sa

from llmrelay.store.database import migrate, normalise_url, open_engine
from llmrelay.store.keys import KeyStore, hash_key
from llmrelay.store.usage import UsageStore
from tests.conftest import relay_config, start_relay, stop_relay, wait_until
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import fresh_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def test_migrations_keys_and_ledger_on_postgres(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    migrate(engine)
    migrate(engine)  # idempotent
    keys = KeyStore(engine)
    record, secret = keys.create("pg-key", ["gpt-5"])
    assert [k.key_hash for k in keys.active()] == [hash_key(secret)]
    keys.revoke("pg-key")
    assert keys.active() == []
    usage = UsageStore(engine)
    row = {
        "request_id": "req_1",
        "created_at": 1.0,
        "key_id": record.id,
        "key_name": "pg-key",
        "model": "gpt-5",
        "provider": "mock",
        "upstream_model": "mock-echo",
        "stream": False,
        "status": 200,
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "latency_ms": 1.5,
        "client_disconnected": False,
    }
    usage.insert_many([row])
    usage.insert_many([row])  # a replayed outbox segment must not double-count
    [summary] = usage.summary()
    assert (summary["requests"], summary["total_tokens"]) == (1, 7)
    engine.dispose()


def test_relay_serves_and_records_on_postgres(
    postgres_url: str, mock_openai: MockOpenAI, tmp_path
) -> None:
    config = relay_config(mock_openai)
    config["server"]["database_url"] = postgres_url
    relay = start_relay(config, tmp_path)
    try:
        key = relay.create_key("pg-client")
        client = openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-5", messages=[{"role": "user", "content": "on postgres"}]
        )
        usage = raw.parse().usage
        engine = sa.create_engine(normalise_url(postgres_url))

        def ledger_row():
            with engine.connect() as connection:
                return connection.execute(
                    sa.text("SELECT * FROM usage_records WHERE request_id = :r"),
                    {"r": raw.headers["x-request-id"]},
                ).first()

        row = wait_until(ledger_row)
        engine.dispose()
        assert row.total_tokens == usage.total_tokens and row.key_name == "pg-client"
        relay.cli("keys", "revoke", "pg-client")
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "x"}]
            )
    finally:
        stop_relay(relay)
