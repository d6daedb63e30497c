"""The Anthropic response translation, one rule at a time (no server, no network): whole
answers, errors and streamed events. Requests are in test_anthropic_translation.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmrelay.config import AnthropicProvider as AnthropicConfig
from llmrelay.providers.anthropic import AnthropicProvider
from llmrelay.providers.anthropic_response import (
    completion_from_message,
    finish_reason,
    map_anthropic_error,
    openai_usage,
    stream_error,
)
from llmrelay.providers.anthropic_stream import AnthropicEvents
from llmrelay.providers.base import UpstreamError
from llmrelay.providers.sse_reader import SSEEvent

KEY = "sk-ant-unit-test-key-0123456789abcdef"


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


# ---- whole answers ---------------------------------------------------------------------


def test_completion_from_message() -> None:
    answer = {
        "id": "msg_1",
        "model": "claude-up",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 30, "cache_read_input_tokens": 5},
        "content": [
            {"type": "thinking", "thinking": "abcdefgh", "signature": "s"},
            text("A"),
            {"type": "citations_whatever"},
            text("B"),
            {"type": "tool_use", "id": "t", "name": "f", "input": {"q": "é"}},
        ],
    }
    completion = completion_from_message(answer, json_mode=False)
    assert completion["id"] == "chatcmpl-msg_1"
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "AB",
        "refusal": None,
        "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": '{"q": "é"}'}}
        ],
        "reasoning_content": "abcdefgh",
        "thinking_blocks": [{"type": "thinking", "thinking": "abcdefgh", "signature": "s"}],
    }
    assert completion["usage"]["completion_tokens_details"] == {"reasoning_tokens": 2}
    assert completion["usage"]["prompt_tokens"] == 15


def test_json_mode_answer_is_the_content() -> None:
    tool = {"type": "tool_use", "id": "t", "name": "json_tool_call", "input": {"a": 1}}
    completion = completion_from_message({"content": [tool], "stop_reason": "tool_use"}, True)
    [choice] = completion["choices"]
    assert choice["message"]["content"] == '{"a": 1}' and "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    empty = completion_from_message({"content": [], "stop_reason": "end_turn"}, False)
    assert empty["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("new_reason", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(reason: Any, expected: str) -> None:
    assert finish_reason(reason, json_answer=False) == expected


def test_usage_prefers_reported_reasoning_tokens_and_caps_the_estimate() -> None:
    reported = {"output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 12}}
    assert openai_usage(reported, 4000)["completion_tokens_details"]["reasoning_tokens"] == 12
    assert openai_usage({"output_tokens": 5}, 4000)["completion_tokens_details"] == {
        "reasoning_tokens": 5
    }
    usage = openai_usage({"input_tokens": 3, "cache_creation_input_tokens": 7}, 0)
    assert (usage["prompt_tokens"], usage["total_tokens"]) == (10, 10)
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 7}


# ---- errors ----------------------------------------------------------------------------


def anthropic_error(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


@pytest.mark.parametrize(
    ("status", "kind", "expected", "retry_after", "relay_type", "code"),
    [
        (400, "invalid_request_error", 400, None, "invalid_request_error", None),
        (404, "not_found_error", 404, None, "invalid_request_error", "model_not_found"),
        (413, "request_too_large", 413, None, "invalid_request_error", "request_too_large"),
        (401, "authentication_error", 502, None, "upstream_error", "upstream_auth_error"),
        (403, "permission_error", 502, None, "upstream_error", "upstream_auth_error"),
        (429, "rate_limit_error", 429, 3.0, "rate_limit_error", "rate_limit_exceeded"),
        (500, "api_error", 502, None, "upstream_error", "upstream_error"),
        (529, "overloaded_error", 503, 3.0, "server_error", "upstream_overloaded"),
    ],
)
def test_error_mapping(
    status: int, kind: str, expected: int, retry_after: Any, relay_type: str, code: str | None
) -> None:
    raw = anthropic_error(kind, f"bad things with {KEY}")
    error = map_anthropic_error("claude", status, raw, {"retry-after": "3"}, [KEY])
    assert (error.status, error.upstream_status, error.retry_after) == (
        expected,
        status,
        retry_after,
    )
    assert (error.type, error.code) == (relay_type, code)
    assert KEY[:16] not in error.message
    if status in (400, 404, 413):
        assert error.message == "bad things with ***"


def test_error_without_a_json_body() -> None:
    error = map_anthropic_error("claude", 502, b"<html>bad gateway</html>", {}, [])
    assert error.status == 502 and "claude" in error.message


@pytest.mark.parametrize(
    ("kind", "status"),
    [("overloaded_error", 503), ("api_error", 502), ("rate_limit_error", 429), ("odd", 502)],
)
def test_mid_stream_errors(kind: str, status: int) -> None:
    error = stream_error("claude", {"type": "error", "error": {"type": kind, "message": "x"}}, [])
    assert error.status == status


# ---- streaming -------------------------------------------------------------------------


def provider() -> AnthropicProvider:
    config = AnthropicConfig(api_key=KEY, base_url="https://example.test/v1/", headers={"x": "y"})
    return AnthropicProvider("claude", config)


def test_provider_url_and_headers() -> None:
    claude = provider()
    assert claude.url == "https://example.test/v1/messages"
    assert claude._headers["x-api-key"] == KEY
    assert claude._headers["anthropic-version"] == "2023-06-01"
    assert claude._headers["x"] == "y"


def run(events: list[tuple[str | None, dict[str, Any]]], json_mode: bool = False):
    translator = AnthropicEvents(provider(), json_mode)
    chunks = []
    for name, data in events:
        chunks += translator.translate(SSEEvent(name, orjson.dumps(data).decode()))
    return translator, chunks


def start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {"type": "content_block_start", "index": index} | {
        "content_block": block
    }


def delta(index: int, **fields: Any) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> tuple[str, dict[str, Any]]:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


MESSAGE_START = ("message_start", {"message": {"id": "msg_9", "model": "m", "usage": {}}})
END = [("message_delta", {"delta": {"stop_reason": "tool_use"}}), ("message_stop", {})]


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def first_fragment(index: int, call_id: str, name: str) -> dict[str, Any]:
    function = {"name": name, "arguments": ""}
    return {
        "tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]
    }


def test_tool_call_indexes_count_tool_calls_not_blocks() -> None:
    tool = {"type": "tool_use", "input": {}}
    events = [
        MESSAGE_START,
        start(0, {"type": "thinking", "thinking": ""}),
        delta(0, type="thinking_delta", thinking="hm"),
        delta(0, type="signature_delta", signature="sig"),
        stop(0),
        start(1, {"type": "text", "text": "Hi"}),
        ("ping", {"type": "ping"}),
        stop(1),
        start(2, {**tool, "id": "a", "name": "f"}),
        delta(2, type="input_json_delta", partial_json=""),
        delta(2, type="input_json_delta", partial_json='{"x": 1}'),
        stop(2),
        start(3, {**tool, "id": "b", "name": "g"}),
        stop(3),
        *END,
    ]
    translator, chunks = run(events)
    assert deltas(chunks) == [
        {"role": "assistant", "content": None},
        {"reasoning_content": "hm"},
        {"content": "Hi"},
        first_fragment(0, "a", "f"),
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]},
        first_fragment(1, "b", "g"),
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {"thinking_blocks": [{"type": "thinking", "thinking": "hm", "signature": "sig"}]},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 0
    assert {c["id"] for c in chunks} == {"chatcmpl-msg_9"} and translator.done


def test_json_mode_streams_the_forced_tool_as_content() -> None:
    tool = {"type": "tool_use", "id": "j", "name": "json_tool_call", "input": {}}
    events = [MESSAGE_START, start(0, tool), delta(0, type="input_json_delta", partial_json="{}")]
    _, chunks = run([*events, stop(0), *END], json_mode=True)
    assert deltas(chunks)[1:] == [{"content": "{}"}, {}]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_events_named_only_by_their_type_and_unknown_ones() -> None:
    events = [(None, {"type": "message_start", "message": {}}), ("mystery", {"type": "mystery"})]
    events.append((None, {"type": "message_stop"}))
    translator, chunks = run(events)
    assert translator.done and chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_a_stream_without_message_stop_was_cut() -> None:
    translator, _ = run([MESSAGE_START, END[0]])
    with pytest.raises(UpstreamError) as caught:
        translator.finish()
    assert caught.value.code == "upstream_stream_cut"


def test_error_events_and_malformed_events_raise() -> None:
    with pytest.raises(UpstreamError) as caught:
        run([("error", {"type": "error", "error": {"type": "overloaded_error", "message": "O"}})])
    assert (caught.value.status, caught.value.message) == (503, "O")
    translator = AnthropicEvents(provider(), False)
    with pytest.raises(UpstreamError) as caught:
        translator.translate(SSEEvent("message_start", "{nope"))
    assert caught.value.code == "upstream_malformed"
