"""Replicas on different machines: separate data directories, one PostgreSQL, one Redis.

Nothing but the database and Redis is shared, as between machines: a key made on one replica
works on the other, and a key disabled on one is refused by the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import (
    ADMIN_KEY,
    RunningRelay,
    relay_config,
    start_relay,
    stop_relay,
    wait_until,
)
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import REDIS_URL, fresh_postgres_database, redis_or_skip

ASK = [{"role": "user", "content": "hello"}]
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


async def _require_redis() -> None:
    client = await redis_or_skip()
    await client.aclose()


@pytest.fixture(scope="module")
def machines(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[list[RunningRelay]]:
    asyncio.run(_require_redis())
    with fresh_postgres_database() as database_url:
        env = {
            "LLMRELAY_ADMIN_KEY": ADMIN_KEY,
            "LLMRELAY_REDIS_URL": REDIS_URL,
            "LLMRELAY_DATABASE_URL": database_url,
        }
        config = relay_config(mock_openai)
        first = start_relay(config, tmp_path_factory.mktemp("machine-a"), **env)
        try:
            second = start_relay(config, tmp_path_factory.mktemp("machine-b"), **env)
        except BaseException:
            stop_relay(first)
            raise
        yield [first, second]
        stop_relay(second)
        stop_relay(first)


def answers(relay: RunningRelay, key: str) -> bool | str:
    client = openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0)
    try:
        client.chat.completions.create(model="gpt-5", messages=ASK)
    except openai.AuthenticationError as error:
        return error.code or "refused"
    return True


def test_a_key_made_on_one_machine_works_and_stops_on_the_other(machines) -> None:
    here, there = machines
    made = httpx.post(here.url + "/admin/keys", json={"name": "roaming"}, headers=ADMIN)
    assert made.status_code == 201
    key, key_id = made.json()["key"], made.json()["id"]
    assert wait_until(lambda: answers(there, key) is True, timeout=5)
    disabled = httpx.post(f"{here.url}/admin/keys/{key_id}/disable", headers=ADMIN)
    assert disabled.status_code == 200
    assert wait_until(lambda: answers(there, key) == "key_disabled", timeout=5)
    assert answers(here, key) == "key_disabled"
