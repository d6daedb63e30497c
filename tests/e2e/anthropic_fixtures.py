"""Shared by the Anthropic end-to-end tests (test_anthropic*.py): a mock Anthropic Messages
API, a relay in front of it, a client key, the openai SDK client, and the helpers that ask and
read answers.

The fixtures are module-scoped: each test module that re-exports them gets its own mock and
relay, stopped when that module is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY, MockAnthropic

WRONG_KEY = "sk-ant-wrong-key-9876543210-zyxwvutsrqponm"
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop"}
STOP_REASONS |= {"max_tokens": "length", "model_context_window_exceeded": "length"}
STOP_REASONS |= {"tool_use": "tool_calls", "refusal": "content_filter", "brand_new_reason": "stop"}
FAILURES = ["400", "403", "429", "500", "529"]
WEATHER = {"name": "get_weather", "description": "Weather for a city"}
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {**WEATHER, "parameters": CITY}}]
TOOLS.append({"type": "function", "function": {"name": "now"}})
CALLS = [("toolu_01A", "get_weather", '{"city": "Paris", "days": 3}'), ("toolu_01B", "now", "{}")]


def relay_config(mock: MockAnthropic) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 5, "idle": 5, "total": 20}
    provider = {"type": "anthropic", "base_url": mock.base_url, "api_key": ANTHROPIC_KEY}
    provider |= {"headers": {"anthropic-beta": "test-beta-1"}, "timeouts": fast}
    models: dict[str, dict[str, Any]] = {
        "claude-sonnet-4-6": {"reasoning": True, "vision": True},
        "claude-haiku-4-5": {"max_tokens_default": 1000},
        "claude-budget": {"upstream_model": "claude-sonnet-4-6", "reasoning": True},
        "claude-lenient": {"upstream_model": "claude-sonnet-4-6", "drop_unsupported_params": True},
        "claude-tools": {"upstream_model": "mock-tools", "reasoning": True},
        "claude-midstream": {"upstream_model": "mock-midstream-error"},
        "claude-cut": {"upstream_model": "mock-cut"},
    }
    models["claude-budget"]["reasoning_budgets"] = {"high": 6000}
    models |= {f"claude-{s}": {"upstream_model": f"mock-{s}"} for s in FAILURES}
    models |= {f"claude-stop-{r}": {"upstream_model": f"mock-stop-{r}"} for r in STOP_REASONS}
    models = {name: {"provider": "anthropic", **spec} for name, spec in models.items()}
    models["claude-wrong-creds"] = {"provider": "bad-creds", "upstream_model": "claude-sonnet-4-6"}
    bad = {**provider, "api_key": WRONG_KEY, "base_url": mock.base_url + "/v1"}
    return {"providers": {"anthropic": provider, "bad-creds": bad}, "models": models}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockAnthropic]:
    server = MockAnthropic()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def claude_relay(mock: MockAnthropic, tmp_path_factory: pytest.TempPathFactory):
    running = start_relay(relay_config(mock), tmp_path_factory.mktemp("anthropic-relay"))
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(claude_relay: RunningRelay) -> str:
    return claude_relay.create_key("anthropic-tests")


@pytest.fixture()
def claude(claude_relay: RunningRelay, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=claude_relay.base_url, api_key=key, max_retries=0) as c:
        yield c


def user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def ask(claude: openai.OpenAI, model: str = "claude-sonnet-4-6", text: str = "hi", **kw: Any):
    return claude.chat.completions.create(
        model=model, messages=kw.pop("messages", user(text)), **kw
    )


def accumulate(claude: openai.OpenAI, model: str = "claude-sonnet-4-6", text: str = "hi", **kw):
    messages = kw.pop("messages", user(text))
    with claude.chat.completions.stream(model=model, messages=messages, **kw) as stream:
        return stream.get_final_completion()


def streamed_text(claude: openai.OpenAI, model: str, **kw: Any) -> tuple[str, str | None]:
    """Content and finish reason of a plain stream (the SDK's `.stream()` helper raises on
    `length` and `content_filter`, by design)."""
    chunks = list(ask(claude, model, stream=True, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks[-1].choices[0].finish_reason


def answer_of(completion: Any) -> dict[str, Any]:
    """What a client reads from a completion, streamed or not."""
    choice = completion.choices[0]
    message = choice.message.model_dump()
    calls = [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or ()]
    return {
        "content": message["content"],
        "tool_calls": calls,
        "reasoning_content": message.get("reasoning_content"),
        "thinking_blocks": message.get("thinking_blocks"),
        "finish_reason": choice.finish_reason,
    }


def raw_frames(relay: RunningRelay, key: str, body: dict[str, Any]) -> list[str]:
    headers = {"authorization": f"Bearer {key}"}
    with httpx.stream(
        "POST", relay.base_url + "/chat/completions", json=body, headers=headers
    ) as r:
        assert r.status_code == 200
        return [line for line in r.iter_lines() if line]


def chunks_of(lines: list[str]) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in lines if line != "data: [DONE]"]


def tool_turn(**extra: Any) -> list[dict[str, Any]]:
    calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
        for i, n, a in [CALLS[0], (*CALLS[1][:2], "")]
    ]
    assistant = {"role": "assistant", "content": "Let me check.", "tool_calls": calls, **extra}
    sunny = {"role": "tool", "tool_call_id": "toolu_01A", "content": "sunny"}
    noon = {"role": "tool", "tool_call_id": "toolu_01B", "content": [text("12:00")]}
    return [*user("weather please"), assistant, sunny, noon]
