"""The Anthropic Messages door against an OpenAI-compatible upstream: the anthropic SDK, whole
and streamed, with tools and thinking; the raw stream's event order; what the upstream gets
for what Claude Code sends; errors in Anthropic's shape; count_tokens; the ledger; models."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.e2e.messages_fixtures import (
    claude,
    messages_key,
    messages_relay,
    new_key,
    raw,
    sse_events,
    user,
)
from tests.mocks.openai_upstream import MockOpenAI

__all__ = ["claude", "messages_key", "messages_relay", "raw"]

CAPTURED = Path(__file__).parents[1] / "clients" / "captured" / "claude-code.json"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def test_whole_answer(claude: anthropic.Anthropic, mock_openai: MockOpenAI) -> None:
    message = claude.messages.create(
        model="gpt-5",
        max_tokens=100,
        system="Be brief.",
        messages=user("hello there"),
        stop_sequences=["END"],
        metadata={"user_id": "someone"},
        extra_body={"temperature": 0.5, "context_management": {"edits": []}},
    )
    assert message.id.startswith("msg_")
    assert message.model == "gpt-5"
    assert [(b.type, b.text) for b in message.content] == [("text", "echo: hello there")]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 3
    assert message.usage.cache_read_input_tokens == 0
    sent = mock_openai.last().body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
    ]
    assert (sent["max_tokens"], sent["stop"], sent["temperature"]) == (100, ["END"], 0.5)


def test_max_tokens_goes_in_the_field_the_upstream_takes(
    claude: anthropic.Anthropic, mock_openai: MockOpenAI
) -> None:
    claude.messages.create(model="o-newer", max_tokens=77, messages=user("hi"))
    sent = mock_openai.last().body
    assert sent["max_completion_tokens"] == 77 and "max_tokens" not in sent


def test_streamed_answer_is_the_whole_one(claude: anthropic.Anthropic) -> None:
    request = {"model": "gpt-5", "max_tokens": 100, "messages": user("one two three")}
    whole = claude.messages.create(**request)
    with claude.messages.stream(**request) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "echo: one two three"
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in whole.content]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens > 0


def test_stream_event_sequence(raw: httpx.Client) -> None:
    body = {"model": "thinker", "max_tokens": 100, "stream": True, "messages": user("hi")}
    response = raw.post("/v1/messages?beta=true", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [(name, data) for name, data in sse_events(response.text) if name != "ping-comment"]
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names.count("message_start") == 1
    assert names[-2:] == ["message_delta", "message_stop"]
    assert "[DONE]" not in response.text
    for name, data in events:
        assert data is not None and data["type"] == name
    blocks = [
        (d["index"], d["content_block"]["type"]) for n, d in events if n == "content_block_start"
    ]
    assert blocks == [(0, "thinking"), (1, "text")]
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    assert stops == [0, 1]
    opened: int | None = None
    for name, data in events:  # one block open at a time, deltas only into the open one
        if name == "content_block_start":
            assert opened is None
            opened = data["index"]
        elif name == "content_block_delta":
            assert data["index"] == opened
        elif name == "content_block_stop":
            assert data["index"] == opened
            opened = None
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"] == {
        "input_tokens": 12,
        "output_tokens": 9,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_becomes_a_thinking_block(claude: anthropic.Anthropic, stream: bool) -> None:
    request = {"model": "thinker", "max_tokens": 2000, "messages": user("hi")}
    request["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    if stream:
        with claude.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(**request)
    thinking, text = message.content
    assert (thinking.type, thinking.thinking) == ("thinking", "The user greets me; answer kindly.")
    assert (text.type, text.text) == ("text", "Hello there!")


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_becomes_tool_use(claude: anthropic.Anthropic, stream: bool, mock_openai) -> None:
    request = {"model": "tools-model", "max_tokens": 100, "messages": user("weather?")}
    request |= {
        "tools": [WEATHER],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    }
    if stream:
        with claude.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(**request)
    [use] = message.content
    assert (use.type, use.id, use.name, use.input) == (
        "tool_use",
        "call_abc",
        "get_weather",
        {"city": "Paris"},
    )
    assert message.stop_reason == "tool_use"
    sent = mock_openai.last().body
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": "Weather for a city",
            },
        }
    ]
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("required", False)


def test_tool_results_follow_the_calls(claude: anthropic.Anthropic, mock_openai) -> None:
    image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    messages = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two cities.", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [
                        {"type": "text", "text": "sunny"},
                        {"type": "image", "source": image},
                    ],
                },
                {"type": "text", "text": "<system-reminder>be nice</system-reminder>"},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_3", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_3",
                    "content": "boom",
                    "is_error": True,
                }
            ],
        },
    ]
    claude.messages.create(model="gpt-5", max_tokens=50, tools=[WEATHER], messages=messages)
    sent = mock_openai.last().body["messages"]
    assert [m["role"] for m in sent] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
        "assistant",
        "tool",
    ]
    assistant = sent[1]
    assert (assistant["content"], assistant["reasoning_content"]) == ("Checking.", "Two cities.")
    assert [c["id"] for c in assistant["tool_calls"]] == ["toolu_1", "toolu_2"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
    assert sent[3]["tool_call_id"] == "toolu_2" and sent[3]["content"]  # a stand-in result
    assert sent[4]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "text", "text": "<system-reminder>be nice</system-reminder>"},
    ]
    assert sent[6] == {"role": "tool", "tool_call_id": "toolu_3", "content": "Error: boom"}


def test_system_turns_and_unanswered_calls(claude: anthropic.Anthropic, mock_openai) -> None:
    """A system turn with no user turn before it joins the next one; a tool call left without
    a result at the end of the conversation gets a stand-in; a result for no known call keeps
    its text; documents and image URLs become parts."""
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}
    url = {"type": "url", "url": "https://example.com/cat.png"}
    messages = [
        {"role": "system", "content": "Speak French."},
        {
            "role": "user",
            "content": [
                {"type": "document", "source": pdf, "title": "report.pdf"},
                {"type": "image", "source": url},
                {"type": "tool_result", "tool_use_id": "toolu_gone", "content": "stale"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": {}}
            ],
        },
        {"role": "user", "content": "never mind"},
    ]
    claude.messages.create(model="gpt-5", max_tokens=50, messages=messages)
    sent = mock_openai.last().body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert sent[0]["content"] == [
        {"type": "text", "text": "Speak French."},
        {
            "type": "file",
            "file": {
                "filename": "report.pdf",
                "file_data": "data:application/pdf;base64,JVBERi0xLjQ=",
            },
        },
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "text", "text": "Tool result toolu_gone: stale"},
    ]
    assert sent[1]["tool_calls"][0]["id"] == "functions_Bash_0"  # Anthropic's id pattern
    assert sent[2]["tool_call_id"] == "functions_Bash_0" and sent[2]["content"]
    assert sent[3] == {"role": "user", "content": "never mind"}


def test_what_claude_code_sends_is_translated(raw: httpx.Client, mock_openai) -> None:
    """Claude Code's captured first request, as it came: system blocks with its attribution
    block, a mid-conversation system turn, adaptive thinking with effort, context management,
    metadata and its tools."""
    captured = json.loads(CAPTURED.read_text())["first_request"]
    body = {**captured["body"], "model": "gpt-5"}
    beta = captured["headers"]["anthropic-beta"]
    response = raw.post("/v1/messages?beta=true", json=body, headers={"anthropic-beta": beta})
    assert response.status_code == 200, response.text
    assert sse_events(response.text)[-1][0] == "message_stop"
    sent = mock_openai.last().body
    system, first_user = sent["messages"]
    assert system["role"] == "system"
    assert "x-anthropic-billing-header" not in system["content"]
    assert system["content"].startswith("You are a Claude agent")
    assert first_user["role"] == "user"
    assert "Please run `echo" in first_user["content"]
    assert "# Environment" in first_user["content"]  # the mid-conversation system turn
    assert sent["max_tokens"] == 32000 and sent["stream"] is True
    # gpt-5 here is not configured `reasoning: true`: adaptive thinking is not asked of it
    for dropped in ("context_management", "metadata", "thinking", "output_config", "system"):
        assert dropped not in sent
    assert "reasoning_effort" not in sent
    names = [tool["function"]["name"] for tool in sent["tools"]]
    assert names == [tool["name"] for tool in body["tools"]]
    assert "Bash" in names


def test_claude_codes_thinking_and_cap_fit_a_reasoning_model(raw: httpx.Client, mock_openai):
    """To a model configured `reasoning: true` with `max_output_tokens`, Claude Code's adaptive
    thinking becomes `reasoning_effort` and its `max_tokens` of 32000 the model's most."""
    captured = json.loads(CAPTURED.read_text())["first_request"]
    body = {**captured["body"], "model": "coder"}
    response = raw.post("/v1/messages?beta=true", json=body)
    assert response.status_code == 200, response.text
    sent = mock_openai.last().body
    assert sent["reasoning_effort"] == "high"
    assert sent["max_tokens"] == 8192
    assert "thinking" not in sent


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_the_chat_door_is_capped_at_the_models_most_too(
    messages_relay, messages_key: str, mock_openai, field: str
) -> None:
    body = {"model": "coder", "messages": user("hi"), field: 32000}
    headers = {"authorization": f"Bearer {messages_key}"}
    url = messages_relay.url + "/v1/chat/completions"
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    sent = mock_openai.last().body
    assert sent[field] == 8192 and len([f for f in sent if f.startswith("max_")]) == 1


def test_a_silent_stream_gets_anthropics_ping_events(
    raw: httpx.Client, claude: anthropic.Anthropic
) -> None:
    """The upstream falls silent for a second after its first word: once `message_start` is
    out, the keep-alive (0.3 s here) is Anthropic's own `ping` event, and the SDK still
    builds the whole message."""
    body = {"model": "pauses", "max_tokens": 50, "stream": True, "messages": user("a b c")}
    names = [name for name, _ in sse_events(raw.post("/v1/messages", json=body).text)]
    started = names.index("message_start")
    assert "ping" in names[started:]
    assert "ping-comment" not in names[started:]
    assert names[-1] == "message_stop"
    request = {"model": "pauses", "max_tokens": 50, "messages": user("a b c")}
    with claude.messages.stream(**request) as stream:
        assert stream.get_final_message().content[0].text.startswith("echo:")


def test_deepseek_style_server_gets_thinking_in_its_own_fields(raw: httpx.Client, mock_openai):
    body = {
        "model": "deep",
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": user("hi"),
    }
    response = raw.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    sent = mock_openai.last().body
    assert sent["thinking"] == {"type": "enabled"}
    assert sent["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": 10}, "messages"),
        ({"model": None, "max_tokens": 10, "messages": user("hi")}, "model"),
        ({"messages": user("hi")}, "max_tokens"),
        ({"max_tokens": 10, "messages": user("hi"), "n": 2}, "n"),
        (
            {"max_tokens": 10, "messages": user("hi"), "stop_sequences": list("abcde")},
            "stop_sequences",
        ),
        (
            {
                "max_tokens": 10,
                "messages": user("hi"),
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "tools.0.type",
        ),
        ({"max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ],
)
def test_what_cannot_be_translated_is_a_400_naming_the_field(
    raw: httpx.Client, body: dict, param: str
) -> None:
    response = raw.post("/v1/messages", json={"model": "gpt-5", **body})
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(param + ":")


def test_keys_x_api_key_or_bearer_and_never_forwarded(
    messages_relay, messages_key: str, mock_openai
) -> None:
    url = messages_relay.url + "/v1/messages"
    body = {"model": "gpt-5", "max_tokens": 10, "messages": user("hi")}
    for headers in ({"x-api-key": messages_key}, {"authorization": f"Bearer {messages_key}"}):
        assert httpx.post(url, json=body, headers=headers).status_code == 200
        assert messages_key not in json.dumps(mock_openai.last().headers)
    response = httpx.post(url, json=body, headers={"x-api-key": "sk-wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    missing = httpx.post(url, json=body)
    assert (missing.status_code, missing.json()["type"]) == (401, "error")


@pytest.mark.parametrize(
    ("model", "status", "kind"),
    [
        ("no-such-model", 404, "not_found_error"),
        ("rate-limited", 429, "rate_limit_error"),
        ("overloaded", 529, "overloaded_error"),
        ("broken", 502, "api_error"),
    ],
)
def test_errors_take_anthropics_shape(
    raw: httpx.Client, model: str, status: int, kind: str
) -> None:
    body = {"model": model, "max_tokens": 10, "messages": user("hi")}
    response = raw.post("/v1/messages", json=body)
    assert response.status_code == status
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == kind
    assert set(error["error"]) == {"type", "message"}
    if status == 429:
        assert int(response.headers["retry-after"]) >= 1


def test_malformed_requests_get_anthropic_errors(raw: httpx.Client) -> None:
    broken = raw.post(
        "/v1/messages", content=b'{"model": ', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["type"] == "invalid_request_error"
    wrong_method = raw.get("/v1/messages")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["type"] == "error"


def test_error_after_the_stream_started_is_an_error_event(raw: httpx.Client) -> None:
    body = {"model": "breaks-midstream", "max_tokens": 10, "stream": True}
    body["messages"] = user("one two three four five")
    response = raw.post("/v1/messages", json=body)
    assert response.status_code == 200
    events = [e for e in sse_events(response.text) if e[0] != "ping-comment"]
    assert events[0][0] == "message_start"
    name, data = events[-1]
    assert name == "error" and data["type"] == "error"
    assert data["error"]["type"] == "api_error"
    with pytest.raises(anthropic.APIStatusError):
        client = anthropic.Anthropic(
            base_url=str(raw.base_url), auth_token=raw.headers["authorization"][7:], max_retries=0
        )
        with client.messages.stream(
            model="breaks-midstream", max_tokens=10, messages=body["messages"]
        ) as stream:
            stream.get_final_message()


def test_budget_refusal_is_door_shaped(messages_relay) -> None:
    key = new_key(messages_relay, budget_usd=0.000001)
    client = anthropic.Anthropic(base_url=messages_relay.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="priced", max_tokens=100, messages=user("hello there"))
    response = caught.value.response
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert response.headers["x-should-retry"] == "false"


def test_rate_limit_is_door_shaped_with_retry_after(messages_relay) -> None:
    key = new_key(messages_relay, rpm=1)
    client = anthropic.Anthropic(base_url=messages_relay.url, api_key=key, max_retries=0)
    client.messages.create(model="gpt-5", max_tokens=10, messages=user("hi"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="gpt-5", max_tokens=10, messages=user("hi"))
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_ledger_records_the_messages_endpoint(claude: anthropic.Anthropic, messages_relay) -> None:
    response = claude.messages.with_raw_response.create(
        model="gpt-5", max_tokens=10, messages=user("hello there")
    )
    row = messages_relay.ledger_row(response.headers["x-request-id"])
    assert row["endpoint"] == "messages"
    assert row["model"] == "gpt-5" and row["status"] == 200
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] == 3


def test_count_tokens(claude: anthropic.Anthropic, messages_relay) -> None:
    request = {"model": "gpt-5", "messages": user("hello there, how are you today?")}
    plain = claude.messages.count_tokens(**request).input_tokens
    with_system = claude.messages.count_tokens(**request, system="You are terse.").input_tokens
    with_tools = claude.messages.count_tokens(**request, tools=[WEATHER]).input_tokens
    assert 0 < plain < with_system and plain < with_tools
    url = messages_relay.url + "/v1/messages/count_tokens"
    refused = httpx.post(url, json=request)
    assert (refused.status_code, refused.json()["error"]["type"]) == (401, "authentication_error")
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model="no-such-model", messages=request["messages"])


def test_models_list_in_both_shapes(
    claude: anthropic.Anthropic, messages_relay, messages_key
) -> None:
    ids = [model.id for model in claude.models.list()]
    assert "gpt-5" in ids
    listed = httpx.get(
        messages_relay.url + "/v1/models",
        headers={"x-api-key": messages_key, "anthropic-version": "2023-06-01"},
    ).json()
    assert listed["object"] == "list" and listed["has_more"] is False
    assert (listed["first_id"], listed["last_id"]) == (
        listed["data"][0]["id"],
        listed["data"][-1]["id"],
    )
    card = listed["data"][0]
    assert card["type"] == "model" and card["object"] == "model"
    assert card["display_name"] == card["id"] and card["created_at"].endswith("Z")
    assert claude.models.retrieve("gpt-5").display_name == "gpt-5"
