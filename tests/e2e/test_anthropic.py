"""Claude through the relay: the official openai SDK against a mock Anthropic Messages API.

What the mock receives is asserted field by field; streamed answers, accumulated, must equal
the whole ones. This module: text, multi-turn, streaming, finish reasons and errors. Tools,
vision, JSON mode and parameters are in test_anthropic_tools_vision.py, thinking in
test_anthropic_reasoning.py (fixtures and helpers shared from anthropic_fixtures.py).
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.e2e import anthropic_fixtures as shared
from tests.e2e.anthropic_fixtures import (
    STOP_REASONS,
    WRONG_KEY,
    answer_of,
    ask,
    chunks_of,
    raw_frames,
    streamed_text,
    text,
    user,
)
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY, VERSION, MockAnthropic

# The same fixtures in every Anthropic module (one mock and one relay per module).
mock, claude_relay, key, claude = shared.mock, shared.claude_relay, shared.key, shared.claude


def test_mock_speaks_the_wire_format_the_anthropic_sdk_reads(mock: MockAnthropic) -> None:
    headers = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": VERSION}
    sdk = anthropic.Anthropic(base_url=mock.base_url, api_key="-", default_headers=headers)
    request = {"model": "mock-tools", "max_tokens": 5000, "messages": user("weather, redact")}
    request |= {"thinking": {"type": "enabled", "budget_tokens": 2000}}
    request["tools"] = [{"name": n, "input_schema": {"type": "object"}} for n in ("a", "now")]
    whole = sdk.messages.create(**request)
    with sdk.messages.stream(**request) as stream:
        assert stream.get_final_message().model_dump() == whole.model_dump()
    kinds = [block.type for block in whole.content]
    assert kinds == ["thinking", "redacted_thinking", "text", "tool_use", "tool_use"]


def test_text_request_translated_field_by_field(claude, mock: MockAnthropic) -> None:
    completion = claude.chat.completions.create(
        model="claude-sonnet-4-6",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [text("Answer in French.")]},
            {"role": "user", "content": "hello there"},
        ],
        temperature=1.7,
        top_p=0.9,
        stop=["END", "  ", "\n"],
        max_completion_tokens=300,
        user="user-42",
        extra_body={"top_k": 5},
    )
    sent = mock.last()
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == VERSION
    assert sent.headers["anthropic-beta"] == "test-beta-1"
    assert sent.body == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": [text("hello there")]}],
        "system": [text("You are terse."), text("Answer in French.")],
        "temperature": 1.0,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
    }
    assert completion.id.startswith("chatcmpl-msg_")
    assert completion.model == "claude-sonnet-4-6"
    assert answer_of(completion) == {
        "content": "echo: hello there",
        "tool_calls": [],
        "reasoning_content": None,
        "thinking_blocks": None,
        "finish_reason": "stop",
    }
    reported = mock.answers[-1]["usage"]
    usage = completion.usage
    assert usage.prompt_tokens == reported["input_tokens"] + 4 + 2
    assert usage.prompt_tokens_details.cached_tokens == 4
    assert usage.completion_tokens == reported["output_tokens"]
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens == 0


@pytest.mark.parametrize(
    ("model", "kwargs", "expected"),
    [
        ("claude-sonnet-4-6", {}, 4096),
        ("claude-haiku-4-5", {}, 1000),
        ("claude-haiku-4-5", {"max_tokens": 77}, 77),
        ("claude-haiku-4-5", {"max_tokens": 99, "max_completion_tokens": 55}, 55),
    ],
)
def test_max_tokens(claude, mock: MockAnthropic, model: str, kwargs: dict, expected: int) -> None:
    ask(claude, model, **kwargs)
    assert mock.last().body["max_tokens"] == expected


@pytest.mark.parametrize("who", ["bob@example.com", "+1 (555) 123-4567"])
def test_user_that_identifies_a_person_is_not_sent(claude, mock: MockAnthropic, who: str) -> None:
    ask(claude, user=who)
    assert "metadata" not in mock.last().body


def test_multi_turn_merged_and_alternating(claude, mock: MockAnthropic) -> None:
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "first"},
        {"role": "user", "content": [text("second")]},
        {"role": "assistant", "content": "an answer"},
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "The answer is   "},
    ]
    ask(claude, messages=messages)

    def turn(role: str, *texts: str) -> dict[str, Any]:
        return {"role": role, "content": [text(t) for t in texts]}

    body = mock.last().body
    assert body["system"] == [text("sys"), text("be brief")]
    assert body["messages"] == [
        turn("user", "..."),
        turn("assistant", "Hello! How can I help?"),
        turn("user", "first", "second"),
        turn("assistant", "an answer"),
        turn("user", "..."),
        turn("assistant", "The answer is"),
    ]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("reason", "expected"), list(STOP_REASONS.items()))
def test_finish_reasons(claude, reason: str, expected: str, stream: bool) -> None:
    model = f"claude-stop-{reason}"
    if stream:
        assert streamed_text(claude, model) == ("echo: hi", expected)
    else:
        assert ask(claude, model).choices[0].finish_reason == expected


@pytest.mark.parametrize(
    ("kwargs", "content", "expected"),
    [
        ({"max_tokens": 2}, "echo: one", "length"),
        ({"stop": ["three"]}, "echo: one two ", "stop"),
    ],
)
def test_real_limits(claude, kwargs: dict, content: str, expected: str) -> None:
    completion = ask(claude, text="one two three", **kwargs)
    assert completion.choices[0].message.content == content
    assert completion.choices[0].finish_reason == expected
    assert streamed_text(claude, "claude-sonnet-4-6", text="one two three", **kwargs) == (
        content,
        expected,
    )


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "kind", "code"),
    [
        ("claude-400", 400, "invalid_request_error", None),
        ("claude-wrong-creds", 502, "upstream_error", "upstream_auth_error"),
        ("claude-403", 502, "upstream_error", "upstream_auth_error"),
        ("claude-429", 429, "rate_limit_error", "rate_limit_exceeded"),
        ("claude-500", 502, "upstream_error", "upstream_error"),
        ("claude-529", 503, "server_error", "upstream_overloaded"),
    ],
)
def test_upstream_errors(claude_relay, key, model: str, status, kind, code, stream) -> None:
    response = httpx.post(
        claude_relay.base_url + "/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "stream": stream, "messages": user("hi")},
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == (kind, code)
    assert ("retry-after" in response.headers) is (status == 429)
    if status == 429:
        assert response.headers["retry-after"] == "7"
    if model == "claude-400":
        assert error["message"] == "messages.0: something is wrong"
    for secret in (ANTHROPIC_KEY, WRONG_KEY):
        assert secret[-16:] not in response.text


def test_errors_raise_the_sdk_exceptions(claude) -> None:
    for model, exception in [
        ("claude-400", openai.BadRequestError),
        ("claude-wrong-creds", openai.InternalServerError),
        ("claude-429", openai.RateLimitError),
        ("claude-529", openai.InternalServerError),
    ]:
        with pytest.raises(exception):
            ask(claude, model)


@pytest.mark.parametrize(
    ("model", "code"),
    [("claude-midstream", "upstream_overloaded"), ("claude-cut", "upstream_stream_cut")],
)
def test_errors_after_the_stream_started(claude, claude_relay, key, model: str, code: str) -> None:
    lines = raw_frames(claude_relay, key, {"model": model, "stream": True, "messages": user("hi")})
    assert "data: [DONE]" not in lines
    *chunks, last = chunks_of(lines)
    assert last["error"]["code"] == code
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks).startswith("echo")
    with pytest.raises(openai.APIError):
        list(ask(claude, model, stream=True))


def test_stream_follows_openai_wire_rules(claude, claude_relay, key) -> None:
    whole = ask(claude, text="one two three four")
    body = {"model": "claude-sonnet-4-6", "stream": True, "messages": user("one two three four")}
    lines = raw_frames(claude_relay, key, body | {"stream_options": {"include_usage": True}})
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    chunks = chunks_of(lines)
    assert len({c["id"] for c in chunks}) == 1 and {c["model"] for c in chunks} == {whole.model}
    roles = [c["choices"][0]["delta"].get("role") for c in chunks if c["choices"]]
    assert roles[0] == "assistant" and not any(roles[1:])
    *content, usage = chunks
    assert usage["choices"] == [] and usage["usage"] == whole.usage.model_dump(exclude_none=True)
    said = "".join(c["choices"][0]["delta"].get("content") or "" for c in content)
    assert said == whole.choices[0].message.content
    finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert content[-1]["choices"][0] == finish
    assert all("usage" not in c for c in chunks_of(raw_frames(claude_relay, key, body)))
