"""Behind a load balancer: with `server.trusted_proxies`, a key's `allowed_ips` is checked
against the client the balancer forwarded, on every route a key calls; without it, the same
headers change nothing. The relay's own socket peer here is 127.0.0.1, the 'balancer'."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.admin_support import ASK, admin_client, new_key, priced_config, wait_for_records
from tests.mocks.openai_upstream import MockOpenAI

OFFICE = "203.0.113.0/24"
"""Where the key may be used from (a documentation range, never dialled)."""
CHAT = {"model": "priced", "messages": ASK}


def relay_with(mock: MockOpenAI, directory: Any, **server: Any) -> RunningRelay:
    config = priced_config(mock)
    config["server"].update(server)
    return start_relay(config, directory, LLMRELAY_ADMIN_KEY=ADMIN_KEY)


@pytest.fixture(scope="module")
def behind_proxy(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = relay_with(
        mock_openai, tmp_path_factory.mktemp("proxied"), trusted_proxies=["127.0.0.1/32"]
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def direct(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = relay_with(mock_openai, tmp_path_factory.mktemp("direct"))
    yield running
    stop_relay(running)


def call(relay: RunningRelay, key: str, route: str, **headers: str) -> httpx.Response:
    """One request on `route` (chat, a customer route, or Anthropic's token count)."""
    headers = {"authorization": f"Bearer {key}", **headers}
    with httpx.Client(base_url=relay.url, headers=headers, timeout=30) as client:
        if route == "chat":
            return client.post("/v1/chat/completions", json=CHAT)
        if route == "count_tokens":
            return client.post("/v1/messages/count_tokens", json=CHAT)
        return client.get(route)


def refused_from(answer: httpx.Response) -> str:
    """The address a 403 `ip_not_allowed` names, in either door's error shape."""
    assert answer.status_code == 403, f"{answer.status_code} {answer.text[:300]}"
    error = answer.json()["error"]
    if "code" in error:  # OpenAI's shape
        assert error["code"] == "ip_not_allowed"
    message = error["message"]
    assert message.startswith("This key may not be used from ")
    return message.removeprefix("This key may not be used from ").rstrip(".")


ROUTES = ["chat", "/v1/key", "/v1/models", "count_tokens"]


@pytest.mark.parametrize("route", ROUTES)
def test_the_forwarded_client_is_the_one_checked(behind_proxy: RunningRelay, route: str) -> None:
    with admin_client(behind_proxy) as admin:
        key = new_key(admin, allowed_ips=[OFFICE])["key"]
    inside = call(behind_proxy, key, route, **{"x-forwarded-for": "203.0.113.7"})
    assert inside.status_code == 200, inside.text[:300]
    outside = call(behind_proxy, key, route, **{"x-forwarded-for": "198.51.100.9"})
    assert refused_from(outside) == "198.51.100.9"
    rfc7239 = call(behind_proxy, key, route, forwarded='for="203.0.113.7:4711";proto=https')
    assert rfc7239.status_code == 200, rfc7239.text[:300]


def test_a_client_cannot_forge_its_way_through_the_proxy(behind_proxy: RunningRelay) -> None:
    """The proxy appends the address it saw to what the client sent: only the right-most
    untrusted entry is believed."""
    with admin_client(behind_proxy) as admin:
        key = new_key(admin, allowed_ips=[OFFICE])["key"]
    forged = call(behind_proxy, key, "chat", **{"x-forwarded-for": "203.0.113.7, 198.51.100.9"})
    assert refused_from(forged) == "198.51.100.9"
    # every hop trusted (the proxy forwarding for itself): the left-most, the proxy
    itself = call(behind_proxy, key, "chat", **{"x-forwarded-for": "127.0.0.1"})
    assert refused_from(itself) == "127.0.0.1"
    garbage = call(behind_proxy, key, "chat", **{"x-forwarded-for": "203.0.113.7, not-an-ip"})
    assert refused_from(garbage) == "127.0.0.1"


def test_a_proxied_request_is_served_and_recorded(behind_proxy: RunningRelay) -> None:
    with admin_client(behind_proxy) as admin:
        created = new_key(admin, allowed_ips=[OFFICE])
        answer = call(behind_proxy, created["key"], "chat", **{"x-forwarded-for": "203.0.113.7"})
        assert answer.json()["choices"][0]["message"]["content"]
        [record] = wait_for_records(admin, created["id"], 1)
    assert record["request_id"] == answer.headers["x-request-id"]
    assert record["status"] == 200
    assert record["client_ip"] == "203.0.113.7"
    assert behind_proxy.ledger_row(record["request_id"])["client_ip"] == "203.0.113.7"


def test_without_trusted_proxies_the_ledger_records_the_peer(direct: RunningRelay) -> None:
    with admin_client(direct) as admin:
        created = new_key(admin)
        answer = call(direct, created["key"], "chat", **{"x-forwarded-for": "203.0.113.7"})
        assert answer.status_code == 200, answer.text[:300]
        [record] = wait_for_records(admin, created["id"], 1)
    assert record["client_ip"] == "127.0.0.1"
    assert direct.ledger_row(record["request_id"])["client_ip"] == "127.0.0.1"


def test_a_refused_key_is_recorded_with_its_forwarded_client(behind_proxy: RunningRelay) -> None:
    """Who probes with a bad key is what an operator looks for in the request log."""
    bad = call(behind_proxy, "sk-not-a-key", "chat", **{"x-forwarded-for": "198.51.100.9"})
    assert bad.status_code == 401
    row = behind_proxy.ledger_row(bad.headers["x-request-id"])
    assert row["client_ip"] == "198.51.100.9" and row["key_id"] is None


def test_without_trusted_proxies_the_headers_are_ignored(direct: RunningRelay) -> None:
    with admin_client(direct) as admin:
        office = new_key(admin, allowed_ips=[OFFICE])["key"]
        local = new_key(admin, allowed_ips=["127.0.0.0/8"])["key"]
    for route in ROUTES:
        spoofed = call(direct, office, route, **{"x-forwarded-for": "203.0.113.7"})
        assert refused_from(spoofed) == "127.0.0.1", route
        rfc7239 = call(direct, office, route, forwarded="for=203.0.113.7")
        assert refused_from(rfc7239) == "127.0.0.1", route
        honest = call(direct, local, route, **{"x-forwarded-for": "198.51.100.9"})
        assert honest.status_code == 200, f"{route}: {honest.text[:300]}"
