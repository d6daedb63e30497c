"""Shared by the Messages door's tests (test_messages_door*.py): a relay in front of the mock
OpenAI upstream (plus a priced model for budgets), keys, the anthropic SDK client, and helpers
that read raw Anthropic streams."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, relay_config, start_relay, stop_relay
from tests.mocks.openai_upstream import MockOpenAI

PRICE = {"input": 1000.0, "output": 1000.0}  # $0.001 a token


@pytest.fixture(scope="module")
def messages_relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    config = relay_config(mock_openai)
    config["models"]["priced"] = {"provider": "mock", "upstream_model": "mock-echo", "price": PRICE}
    config["server"]["parse_in_thread_bytes"] = 20_000  # Claude Code's requests parse off the loop
    newer = {**config["providers"]["mock"], "max_tokens_field": "max_completion_tokens"}
    config["providers"]["mock-newer"] = newer
    config["models"]["o-newer"] = {"provider": "mock-newer", "upstream_model": "mock-echo"}
    config["models"]["coder"] = {
        "provider": "mock",
        "upstream_model": "mock-echo",
        "reasoning": True,
        "max_output_tokens": 8192,
    }
    directory = tmp_path_factory.mktemp("messages-door")
    running = start_relay(config, directory, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


def new_key(relay: RunningRelay, **limits: Any) -> str:
    body = {"name": "messages-" + secrets.token_hex(4), **limits}
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    response = httpx.post(relay.url + "/admin/keys", json=body, headers=headers, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()["key"]


@pytest.fixture(scope="module")
def messages_key(messages_relay: RunningRelay) -> str:
    return new_key(messages_relay)


@pytest.fixture()
def claude(messages_relay: RunningRelay, messages_key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=messages_relay.url, api_key=messages_key, max_retries=0
    ) as client:
        yield client


@pytest.fixture()
def raw(messages_relay: RunningRelay, messages_key: str) -> Iterator[httpx.Client]:
    """Plain HTTP with Claude Code's headers (a bearer key, `anthropic-version`)."""
    headers = {"authorization": f"Bearer {messages_key}", "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=messages_relay.url, headers=headers, timeout=30) as client:
        yield client


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def sse_events(text: str) -> list[tuple[str, dict[str, Any] | None]]:
    """(event name, data) for each frame; comments (`: ping`) come out as ("ping-comment",
    None)."""
    events: list[tuple[str, dict[str, Any] | None]] = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        if frame.startswith(":"):
            events.append(("ping-comment", None))
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines.get("event", ""), orjson.loads(lines["data"])))
    return events
