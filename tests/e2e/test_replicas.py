"""Replicas on different machines: separate data directories, one PostgreSQL, with or without
Redis.

Nothing but the database (and Redis, when there is one) is shared, as between machines. Every
key change made through one replica reaches the other within a second, as the README
promises: a key made on one works on the other; disabled, rotated, deleted or narrowed on one,
it is refused or narrowed on the other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, relay_config, start_relay, stop_relay
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import REDIS_URL, fresh_postgres_database, redis_or_skip

pytestmark = pytest.mark.postgres

ASK = [{"role": "user", "content": "hello"}]
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}

PROMISED_SECONDS = 1.0
"""README: a key change reaches replicas on other machines within a second."""
GRACE_SECONDS = 0.5
"""One read of the generation row and one reload of the key table, on a busy machine."""


async def _require_redis() -> None:
    client = await redis_or_skip()
    await client.aclose()


@pytest.fixture(scope="module", params=["postgres only", "postgres and redis"])
def machines(
    request: pytest.FixtureRequest, mock_openai: MockOpenAI, tmp_path_factory
) -> Iterator[list[RunningRelay]]:
    env = {"LLMRELAY_ADMIN_KEY": ADMIN_KEY}
    if request.param == "postgres and redis":
        asyncio.run(_require_redis())
        env["LLMRELAY_REDIS_URL"] = REDIS_URL
    with fresh_postgres_database() as database_url:
        env["LLMRELAY_DATABASE_URL"] = database_url
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


def answers(relay: RunningRelay, key: str, model: str = "gpt-5") -> bool | str:
    """True when the relay answers with `key`, else the error code it refuses with."""
    client = openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0)
    try:
        client.chat.completions.create(model=model, messages=ASK)
    except openai.APIStatusError as error:
        return error.code or str(error.status_code)
    return True


def change(relay: RunningRelay, method: str, path: str, **body) -> tuple[dict, float]:
    """An admin call that must succeed; its answer, and when it came back."""
    response = httpx.request(method, relay.url + path, headers=ADMIN, json=body or None)
    assert response.status_code in (200, 201), response.text
    return response.json(), time.monotonic()


def within_the_promise(changed_at: float, holds: Callable[[], bool]) -> None:
    """Ask until `holds()`; fail if a request begun more than the promised second (plus the
    grace) after the change still saw the key as it was before."""
    deadline = changed_at + PROMISED_SECONDS + GRACE_SECONDS
    while True:
        asked_at = time.monotonic()
        if holds():
            return
        late = asked_at - changed_at
        assert asked_at <= deadline, f"a request {late:.2f}s after the change saw the old key"
        time.sleep(0.02)


def test_a_key_made_on_one_machine_works_and_stops_on_the_other(machines) -> None:
    here, there = machines
    made, at = change(here, "POST", "/admin/keys", name="roaming")
    key, key_id = made["key"], made["id"]
    within_the_promise(at, lambda: answers(there, key) is True)
    _, at = change(here, "POST", f"/admin/keys/{key_id}/disable")
    within_the_promise(at, lambda: answers(there, key) == "key_disabled")
    assert answers(here, key) == "key_disabled"
    _, at = change(here, "POST", f"/admin/keys/{key_id}/enable")
    within_the_promise(at, lambda: answers(there, key) is True)


def test_rotated_narrowed_and_deleted_keys_follow_on_the_other_machine(machines) -> None:
    here, there = machines
    made, at = change(here, "POST", "/admin/keys", name="changing")
    old_secret, key_id = made["key"], made["id"]
    within_the_promise(at, lambda: answers(there, old_secret) is True)

    rotated, at = change(here, "POST", f"/admin/keys/{key_id}/rotate")
    new_secret = rotated["key"]
    within_the_promise(at, lambda: answers(there, old_secret) == "invalid_api_key")
    assert answers(there, new_secret) is True

    _, at = change(here, "PATCH", f"/admin/keys/{key_id}", models=["qwen3-max"])
    within_the_promise(at, lambda: answers(there, new_secret) == "model_not_found")
    assert answers(there, new_secret, model="qwen3-max") is True

    _, at = change(here, "DELETE", f"/admin/keys/{key_id}")
    within_the_promise(
        at, lambda: answers(there, new_secret, model="qwen3-max") == "invalid_api_key"
    )
