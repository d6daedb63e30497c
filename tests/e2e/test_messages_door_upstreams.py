"""The Messages door against every other upstream kind, with the anthropic SDK: the Anthropic
mock (through the relay's translation), the Gemini mock and the embedded local model; whole and
streamed, with tools, thinking and cache usage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY, MockAnthropic
from tests.mocks.gemini_upstream import CALL_SIGNATURE, GEMINI_KEY, MockGemini

CAPTURED = Path(__file__).parents[1] / "clients" / "captured" / "claude-code.json"
FAST = {"connect": 2, "first_token": 5, "idle": 5, "total": 20}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
NOW = {"name": "now", "input_schema": {"type": "object", "properties": {}}}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}


@pytest.fixture(scope="module")
def anthropic_mock() -> Iterator[MockAnthropic]:
    server = MockAnthropic()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gemini_mock() -> Iterator[MockGemini]:
    server = MockGemini()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def upstreams_relay(
    anthropic_mock: MockAnthropic, gemini_mock: MockGemini, tmp_path_factory
) -> Iterator[RunningRelay]:
    providers = {
        "anthropic": {
            "type": "anthropic",
            "base_url": anthropic_mock.base_url,
            "api_key": ANTHROPIC_KEY,
            "timeouts": FAST,
        },
        "anthropic-pinned": {
            "type": "anthropic",
            "base_url": anthropic_mock.base_url,
            "api_key": ANTHROPIC_KEY,
            "anthropic_version": "2024-10-22",
            "timeouts": FAST,
        },
        "gemini": {
            "type": "gemini",
            "base_url": gemini_mock.base_url,
            "api_key": GEMINI_KEY,
            "timeouts": FAST,
        },
        "local": {"type": "local", "queue_size": 4},
    }
    models = {
        "via-anthropic": {
            "provider": "anthropic",
            "upstream_model": "claude-sonnet-4-6",
            "reasoning": True,
        },
        "anthropic-tools": {"provider": "anthropic", "upstream_model": "mock-tools"},
        "anthropic-pinned": {"provider": "anthropic-pinned", "upstream_model": "claude-x"},
        "anthropic-small": {
            "provider": "anthropic",
            "upstream_model": "claude-haiku-4-5",
            "max_output_tokens": 4096,
        },
        "anthropic-cut": {"provider": "anthropic", "upstream_model": "mock-cut"},
        "via-gemini": {"provider": "gemini", "upstream_model": "gemini-2.5-pro", "reasoning": True},
        "gemini-tools": {"provider": "gemini", "upstream_model": "mock-tools"},
        "smollm2-135m-instruct": {"provider": "local"},
    }
    config = {"providers": providers, "models": models}
    running = start_relay(config, tmp_path_factory.mktemp("messages-upstreams"))
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def key(upstreams_relay: RunningRelay) -> str:
    return upstreams_relay.create_key("messages-upstreams")


@pytest.fixture()
def claude(upstreams_relay: RunningRelay, key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=upstreams_relay.url, api_key=key, max_retries=0) as c:
        yield c


def both(client: anthropic.Anthropic, **request: Any) -> tuple[Any, Any]:
    """The whole answer and the streamed one, for the same request."""
    whole = client.messages.create(**request)
    with client.messages.stream(**request) as stream:
        streamed = stream.get_final_message()
    return whole, streamed


def blocks(message: Any) -> list[dict[str, Any]]:
    return [block.model_dump(exclude_none=True) for block in message.content]


@pytest.mark.parametrize("model", ["via-anthropic", "via-gemini"])
def test_text_whole_and_streamed(claude: anthropic.Anthropic, model: str) -> None:
    ask = [{"role": "user", "content": "hello there"}]
    whole, streamed = both(claude, model=model, max_tokens=100, system="Be brief.", messages=ask)
    assert blocks(whole) == blocks(streamed) == [{"type": "text", "text": "echo: hello there"}]
    assert whole.stop_reason == streamed.stop_reason == "end_turn"
    # A pass-through answers as the upstream did (its own model name); a translation, as asked.
    upstream = {"via-anthropic": "claude-sonnet-4-6-20260101"}
    assert whole.model == streamed.model == upstream.get(model, model)
    assert whole.usage.input_tokens == streamed.usage.input_tokens > 0


def test_cache_usage_comes_back_apart(claude: anthropic.Anthropic, anthropic_mock) -> None:
    """The Anthropic mock reports 4 cache reads and 2 cache writes: the door reports them
    apart from `input_tokens`, as Anthropic does."""
    ask = [{"role": "user", "content": "hello there"}]
    whole, streamed = both(claude, model="via-anthropic", max_tokens=100, messages=ask)
    reported = anthropic_mock.answers[-1]["usage"]
    for message in (whole, streamed):
        assert message.usage.input_tokens == reported["input_tokens"]
        assert message.usage.cache_read_input_tokens == 4
        assert message.usage.cache_creation_input_tokens == 2


def test_thinking_through_anthropic(claude: anthropic.Anthropic, anthropic_mock) -> None:
    ask = [{"role": "user", "content": "think about it"}]
    thinking = {"type": "enabled", "budget_tokens": 2048}
    whole, streamed = both(
        claude, model="via-anthropic", max_tokens=4000, thinking=thinking, messages=ask
    )
    for message in (whole, streamed):
        kinds = [block.type for block in message.content]
        assert kinds == ["thinking", "text"]
        assert message.content[0].thinking == "The user wrote: think about it"
    assert anthropic_mock.last().body["thinking"] == thinking


def test_a_pass_through_is_capped_at_the_models_most(
    upstreams_relay: RunningRelay, key: str, anthropic_mock
) -> None:
    """Claude Code asks 32000 tokens of every model: one configured `max_output_tokens: 4096`
    gets 4096, and the rest of the body as it came."""
    captured = json.loads(CAPTURED.read_text())["first_request"]
    body = {**captured["body"], "model": "anthropic-small"}
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    headers["anthropic-beta"] = captured["headers"]["anthropic-beta"]
    response = httpx.post(upstreams_relay.url + "/v1/messages", json=body, headers=headers)
    assert response.status_code == 200, response.text
    sent = anthropic_mock.last().body
    assert body["max_tokens"] == 32000 and sent["max_tokens"] == 4096
    assert sent["context_management"] == body["context_management"]
    assert sent["model"] == "claude-haiku-4-5"


def test_a_pass_through_sends_the_clients_version_else_the_providers(
    upstreams_relay: RunningRelay, key: str, anthropic_mock
) -> None:
    body = {
        "model": "anthropic-pinned",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
    }
    url = upstreams_relay.url + "/v1/messages"
    assert httpx.post(url, json=body, headers={"x-api-key": key}).status_code == 200
    assert anthropic_mock.last().headers["anthropic-version"] == "2024-10-22"
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    assert anthropic_mock.last().headers["anthropic-version"] == "2023-06-01"


def test_thinking_through_gemini(claude: anthropic.Anthropic, gemini_mock) -> None:
    ask = [{"role": "user", "content": "think about it"}]
    thinking = {"type": "adaptive"}
    whole, streamed = both(
        claude,
        model="via-gemini",
        max_tokens=4000,
        thinking=thinking,
        output_config={"effort": "low"},
        messages=ask,
    )
    for message in (whole, streamed):
        thinking, text, signed = message.content
        assert (thinking.type, thinking.thinking) == ("thinking", "The user said: think about it")
        assert text.type == "text"
        assert (signed.type, signed.thinking) == ("thinking", "")  # Gemini's signature
        assert signed.signature.startswith("llmrelay.")
        assert message.usage.cache_read_input_tokens == 3
    assert blocks(whole) == blocks(streamed)


@pytest.mark.parametrize(
    ("model", "tools", "expected"),
    [
        (
            "anthropic-tools",
            [WEATHER, NOW],
            [("get_weather", {"city": "Paris", "days": 3}), ("now", {})],
        ),
        (
            "gemini-tools",
            [WEATHER, TIME],
            [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris", "n": [1, 2]})],
        ),
    ],
)
def test_tools_whole_and_streamed(
    claude: anthropic.Anthropic, model: str, tools: list, expected: list
) -> None:
    ask = [{"role": "user", "content": "weather and time?"}]
    whole, streamed = both(claude, model=model, max_tokens=200, tools=tools, messages=ask)
    for message in (whole, streamed):
        uses = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
        assert uses == expected
        assert message.stop_reason == "tool_use"
        assert all(b.text for b in message.content if b.type == "text")  # no empty text
        ids = [b.id for b in message.content if b.type == "tool_use"]
        assert all(re.fullmatch(r"[a-zA-Z0-9_-]+", i) for i in ids) and len(set(ids)) == 2


def test_tool_results_reach_anthropic(claude: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "weather?"}]
    first = claude.messages.create(
        model="anthropic-tools", max_tokens=200, tools=[WEATHER, NOW], messages=ask
    )
    results = [
        {"type": "tool_result", "tool_use_id": block.id, "content": f"{block.name} done"}
        for block in first.content
        if block.type == "tool_use"
    ]
    turn = [*ask, {"role": "assistant", "content": first.content}]
    turn.append({"role": "user", "content": results})
    answer = claude.messages.create(
        model="anthropic-tools", max_tokens=200, tools=[WEATHER, NOW], messages=turn
    )
    assert answer.content[-1].text == "results: get_weather done; now done"


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_signatures_go_back_with_the_calls(
    claude: anthropic.Anthropic, gemini_mock: MockGemini, stream: bool
) -> None:
    """Gemini signs its calls; a client that sends the answer's blocks back sends the
    signatures back, in the relay's thinking block, and Gemini gets them on its calls."""
    request: dict[str, Any] = {"model": "gemini-tools", "max_tokens": 200, "tools": [WEATHER, TIME]}
    ask = [{"role": "user", "content": "weather?"}]
    if stream:
        with claude.messages.stream(**request, messages=ask) as events:
            first = events.get_final_message()
    else:
        first = claude.messages.create(**request, messages=ask)
    results = [
        {"type": "tool_result", "tool_use_id": block.id, "content": "done"}
        for block in first.content
        if block.type == "tool_use"
    ]
    turn = [*ask, {"role": "assistant", "content": first.content}]
    turn.append({"role": "user", "content": results})
    claude.messages.create(**request, messages=turn)
    model_turn = gemini_mock.last().body["contents"][1]
    calls = [part for part in model_turn["parts"] if "functionCall" in part]
    assert [part.get("thoughtSignature") for part in calls] == [CALL_SIGNATURE, None]


def test_local_model_whole_and_streamed(claude: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "Say hello."}]
    whole, streamed = both(claude, model="smollm2-135m-instruct", max_tokens=8, messages=ask)
    for message in (whole, streamed):
        [text] = message.content
        assert text.type == "text" and text.text.strip()
        assert message.stop_reason in ("end_turn", "max_tokens")
        assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 8


@pytest.mark.parametrize("model", ["via-anthropic", "via-gemini"])
def test_what_claude_code_sends_reaches_every_vendor(
    upstreams_relay: RunningRelay, key: str, model: str
) -> None:
    """Claude Code's captured request, streamed, with its headers: the translation is one the
    Anthropic and Gemini mocks (which refuse what their vendors refuse) accept."""
    captured = json.loads(CAPTURED.read_text())["first_request"]
    headers = {"authorization": f"Bearer {key}", "anthropic-version": "2023-06-01"}
    headers["anthropic-beta"] = captured["headers"]["anthropic-beta"]
    body = {**captured["body"], "model": model}
    url = upstreams_relay.url + "/v1/messages?beta=true"
    response = httpx.post(url, json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    events = [line for line in response.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "event: message_start" and events[-1] == "event: message_stop"
    assert "event: error" not in events


def test_a_passed_through_stream_cut_before_its_end_says_so(
    upstreams_relay: RunningRelay, key: str
) -> None:
    """Anthropic's stream ends without `message_stop`: the client gets Anthropic's `error`
    event rather than a stream that looks finished, and the ledger says it was cut."""
    body = {"model": "anthropic-cut", "max_tokens": 50, "stream": True}
    body["messages"] = [{"role": "user", "content": "hello"}]
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    response = httpx.post(upstreams_relay.url + "/v1/messages", json=body, headers=headers)
    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "event: message_start"
    assert events[-1] == "event: error" and "event: message_stop" not in events
    row = upstreams_relay.ledger_row(response.headers["x-request-id"])
    assert (row["endpoint"], row["error_code"]) == ("messages", "upstream_stream_cut")
