"""`GET /admin/models` shows what each model can really do: what its configuration declares,
less what any of its deployments' providers refuses (the embedded model takes text only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.admin_support import admin_client
from tests.mocks.openai_upstream import MockOpenAI

HELLO = [{"role": "user", "content": "hello"}]
TOOL = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def capabilities_config(mock: MockOpenAI) -> dict[str, Any]:
    return {
        "providers": {
            "mock": {"type": "openai", "base_url": mock.base_url, "api_key": "sk-mock"},
            "local": {"type": "local"},
        },
        "models": {
            "seeing": {"provider": "mock", "upstream_model": "mock-echo", "vision": True},
            "thinking": {"provider": "mock", "upstream_model": "mock-echo", "reasoning": True},
            # Declared as seeing, but served by the embedded model: it cannot take images.
            "local-seeing": {"provider": "local", "vision": True},
            # One tier remote, one local: a request may reach either, so no tools.
            "mixed": {
                "deployments": [
                    {"provider": "mock", "upstream_model": "mock-echo"},
                    {"provider": "local", "priority": 1},
                ],
                "vision": True,
            },
        },
    }


@pytest.fixture(scope="module")
def relay_with_local(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = start_relay(
        capabilities_config(mock_openai),
        tmp_path_factory.mktemp("capabilities"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def capabilities(relay_with_local: RunningRelay) -> dict[str, dict[str, bool]]:
    with admin_client(relay_with_local) as admin:
        models = admin.get("/admin/models").json()["data"]
    return {model["id"]: model["capabilities"] for model in models}


def test_capabilities_come_from_the_config_and_the_providers(
    capabilities: dict[str, dict[str, bool]],
) -> None:
    remote = ["chat", "messages", "responses", "embeddings", "completions"]
    local = ["chat", "messages", "responses", "completions"]  # the chat model embeds nothing
    assert capabilities == {
        "seeing": {"vision": True, "reasoning": False, "tools": True, "endpoints": remote},
        "thinking": {"vision": False, "reasoning": True, "tools": True, "endpoints": remote},
        "local-seeing": {"vision": False, "reasoning": False, "tools": False, "endpoints": local},
        "mixed": {"vision": False, "reasoning": False, "tools": False, "endpoints": local},
    }


SEEING = [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, IMAGE]}]


@pytest.mark.parametrize(
    ("capability", "body"),
    [("tools", {"messages": HELLO, "tools": [TOOL]}), ("vision", {"messages": SEEING})],
)
def test_what_a_model_is_shown_without_the_model_refuses(
    relay_with_local: RunningRelay,
    capabilities: dict[str, dict[str, bool]],
    capability: str,
    body: dict[str, Any],
) -> None:
    assert capabilities["local-seeing"][capability] is False
    with admin_client(relay_with_local) as admin:
        response = admin.post(
            "/v1/chat/completions", json={"model": "local-seeing", "max_tokens": 4, **body}
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("unsupported_parameter", "unsupported_content")
