"""The failed sign-in limit across replicas: two relays sharing one database and one Redis
count a member's failures together, so spreading guesses over replicas gains nothing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.admin_support import admin_client, priced_config
from tests.e2e.members_support import PASSWORD, add_member, new_account
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import REDIS_URL, redis_or_skip


async def _require_redis() -> None:
    client = await redis_or_skip()
    await client.aclose()


@pytest.fixture(scope="module")
def replicas(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningRelay]]:
    asyncio.run(_require_redis())
    shared = tmp_path_factory.mktemp("shared-db") / "llmrelay.db"
    env = {
        "LLMRELAY_ADMIN_KEY": ADMIN_KEY,
        "LLMRELAY_REDIS_URL": REDIS_URL,
        "LLMRELAY_DATABASE_URL": f"sqlite:///{shared}",
    }
    config = priced_config(mock_openai)
    config["server"]["trusted_proxies"] = ["127.0.0.1/32"]
    first = start_relay(config, tmp_path_factory.mktemp("replica-a"), **env)
    try:
        second = start_relay(config, tmp_path_factory.mktemp("replica-b"), **env)
    except BaseException:
        stop_relay(first)
        raise
    first.data_dir = shared.parent  # where the tests' SQL finds the shared database
    yield [first, second]
    stop_relay(second)
    stop_relay(first)


def client_address() -> dict[str, str]:
    """A documentation address of its own per test run: Redis keeps counting an address's
    failures for 15 minutes, and runs in a row must not add up."""
    return {"x-forwarded-for": f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"}


def test_failures_on_two_replicas_add_up_to_the_limit(replicas) -> None:
    first, second = replicas
    headers = client_address()
    with admin_client(first) as admin:
        member = add_member(admin, new_account(first))
    wrong = {"email": member["email"], "password": "not the password"}
    statuses = [
        httpx.post(relay.url + "/v1/account/session", json=wrong, headers=headers).status_code
        for relay in (first, second, first, second, first)
    ]
    assert statuses == [401] * 5
    right = {"email": member["email"], "password": PASSWORD}
    refused = httpx.post(second.url + "/v1/account/session", json=right, headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"]


def test_a_success_does_not_count_as_a_failure(replicas) -> None:
    first, second = replicas
    with admin_client(first) as admin:
        member = add_member(admin, new_account(first))
    right = {"email": member["email"], "password": PASSWORD}
    for relay in (first, second) * 4:
        assert httpx.post(relay.url + "/v1/account/session", json=right).status_code == 200
