"""What the usage and customer API tests share: a relay whose models have prices, keys made
through the admin API, and waiting for the ledger to hold a key's requests."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import openai

from tests.conftest import ADMIN_KEY, RunningRelay, wait_until
from tests.e2e.races import ASK
from tests.mocks.openai_upstream import MockOpenAI

PRICED_COST = 0.008
"""'hello there' is 5 prompt tokens and 3 answer words at $1000 per million: $0.008."""
CHEAP_COST = 0.0011
"""The same request at $100 (input) and $200 (output) per million tokens."""


def priced_config(mock: MockOpenAI) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 5, "idle": 5, "total": 20}
    mock_provider = {
        "type": "openai",
        "base_url": mock.base_url,
        "api_key": "${MOCK_UPSTREAM_KEY}",
        "timeouts": fast,
    }
    return {
        "server": {"keepalive_ping_seconds": 0.3},
        "routing": {"max_attempts": 1},
        "providers": {"mock": mock_provider},
        "models": {
            "priced": {
                "provider": "mock",
                "upstream_model": "mock-echo",
                "price": {"input": 1000.0, "output": 1000.0, "cached_input": 500.0},
                "aliases": ["priced-latest"],
                "description": "a model with a price",
            },
            "cheap": {
                "provider": "mock",
                "upstream_model": "mock-echo",
                "price": {"input": 100.0, "output": 200.0},
                "vision": True,
            },
            "thinker": {"provider": "mock", "upstream_model": "mock-reasoning", "reasoning": True},
            "broken": {"provider": "mock", "upstream_model": "mock-500"},
        },
    }


def admin_client(relay: RunningRelay) -> httpx.Client:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    return httpx.Client(base_url=relay.url, headers=headers, timeout=30)


def new_key(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = admin.post("/admin/keys", json={"name": "k-" + secrets.token_hex(4), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def ask(relay: RunningRelay, secret: str, model: str = "priced", stream: bool = False) -> str:
    """One chat request through the openai SDK; its x-request-id. Only the `broken` model
    may fail."""
    with openai.OpenAI(base_url=relay.base_url, api_key=secret, max_retries=0) as client:
        try:
            if stream:
                with client.chat.completions.with_streaming_response.create(
                    model=model,
                    messages=ASK,
                    stream=True,
                    stream_options={"include_usage": True},
                ) as response:
                    for _ in response.iter_lines():
                        pass
                    return response.headers["x-request-id"]
            raw = client.chat.completions.with_raw_response.create(model=model, messages=ASK)
            return raw.headers["x-request-id"]
        except openai.APIStatusError as error:
            if model != "broken":
                raise
            return error.response.headers["x-request-id"]


def wait_for_records(admin: httpx.Client, key_id: str, count: int) -> list[dict[str, Any]]:
    """The key's request log once the ledger writer has stored `count` records."""

    def stored() -> list[dict[str, Any]] | None:
        page = admin.get("/admin/requests", params={"key_id": key_id, "limit": 1000}).json()
        return page["data"] if len(page["data"]) >= count else None

    return wait_until(stored, 30)
