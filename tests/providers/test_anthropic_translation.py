"""The Anthropic translation functions, one rule at a time (no server, no network)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmrelay.config import AnthropicProvider as AnthropicConfig
from llmrelay.config import ModelConfig, ReasoningBudgets
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.protocol.request import parse_chat_request
from llmrelay.providers.anthropic import AnthropicProvider
from llmrelay.providers.anthropic_request import (
    apply_thinking,
    build_request,
    convert_tool_choice,
    metadata_user_id,
    sampling,
)
from llmrelay.providers.anthropic_response import (
    completion_from_message,
    finish_reason,
    map_anthropic_error,
    openai_usage,
    stream_error,
)
from llmrelay.providers.anthropic_stream import AnthropicEvents
from llmrelay.providers.base import UpstreamCall, UpstreamError
from llmrelay.providers.sse_reader import SSEEvent

KEY = "sk-ant-unit-test-key-0123456789abcdef"


def call(body: dict[str, Any], intent: ReasoningIntent | None = None, **model: Any) -> UpstreamCall:
    body = {"model": "claude", "messages": [{"role": "user", "content": "hi"}], **body}
    request = parse_chat_request(orjson.dumps(body))
    config = ModelConfig(provider="anthropic", **model)
    return UpstreamCall(request, "claude-up", "req-1", config, intent or request.reasoning)


def translate(body: dict[str, Any], **model: Any) -> dict[str, Any]:
    return build_request(call(body, **model), stream=False).body


def rejected(body: dict[str, Any], **model: Any) -> RelayError:
    with pytest.raises(RelayError) as caught:
        translate(body, **model)
    assert caught.value.status == 400
    return caught.value


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


# ---- messages --------------------------------------------------------------------------


def test_tool_results_and_the_next_user_text_share_one_user_turn() -> None:
    call_ = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": " "}}
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call_]},
        {"role": "tool", "tool_call_id": "t1", "content": ""},
        {"role": "user", "content": [text("  "), {**text("next"), "cache_control": {"a": 1}}]},
    ]
    turns = translate({"messages": messages, "tools": [{"function": {"name": "f"}}]})["messages"]
    assert turns[1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
    }
    assert turns[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1"},
            {**text("next"), "cache_control": {"a": 1}},
        ],
    }


def test_only_system_messages_still_send_a_user_turn() -> None:
    body = translate({"messages": [{"role": "system", "content": "rules"}]})
    assert body["system"] == [text("rules")]
    assert body["messages"] == [{"role": "user", "content": [text("...")]}]


def test_refusal_parts_are_kept_as_text() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
        {"role": "user", "content": "b"},
    ]
    assert translate({"messages": messages})["messages"][1]["content"] == [text("I can't.")]


def test_pdf_files_become_documents() -> None:
    part = {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}}
    [block] = translate({"messages": [{"role": "user", "content": [part]}]})["messages"][0][
        "content"
    ]
    assert block == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
    }


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}, ""),
        ({"type": "file", "file": {"file_id": "file-1"}}, ".file"),
    ],
)
def test_content_anthropic_cannot_take(part: dict[str, Any], param: str) -> None:
    error = rejected({"messages": [{"role": "user", "content": [text("x"), part]}]})
    assert (error.param, error.code) == (f"messages[0].content[1]{param}", "unsupported_content")


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_call_arguments_must_be_an_object(arguments: str) -> None:
    call_ = {"id": "t", "type": "function", "function": {"name": "f", "arguments": arguments}}
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call_]}]
    error = rejected({"messages": messages})
    assert error.param == "messages[1].tool_calls[0].function.arguments"


def test_legacy_function_messages_are_refused() -> None:
    messages = [{"role": "user", "content": "x"}, {"role": "function", "content": "y"}]
    assert rejected({"messages": messages}).param == "messages[1].role"


def test_thinking_blocks_sent_back_lead_the_assistant_turn() -> None:
    kept = [
        {"type": "thinking", "thinking": "hm", "signature": "sig", "index": 0},
        {"type": "redacted_thinking", "data": "xyz"},
        {"type": "thinking", "thinking": "no signature"},
    ]
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "ok", "thinking_blocks": kept},
    ]
    assert translate({"messages": messages})["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "hm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "xyz"},
        text("ok"),
    ]


# ---- parameters ------------------------------------------------------------------------


def test_sampling() -> None:
    assert sampling(2.0, 0.3, ["\t", "END"], 4) == {
        "temperature": 1.0,
        "top_p": 0.3,
        "top_k": 4,
        "stop_sequences": ["END"],
    }
    assert sampling(0.5, None, [" "], True) == {"temperature": 0.5}


@pytest.mark.parametrize(
    ("user", "expected"),
    [("user-42", "user-42"), ("a@b.co", None), ("+44 20 7946 0958", None), ("  ", None), (7, None)],
)
def test_metadata_user_id(user: Any, expected: str | None) -> None:
    assert metadata_user_id(user) == expected


def test_the_first_unsupported_parameter_is_named_unless_dropped() -> None:
    body = {"seed": 1, "presence_penalty": 1.0}
    error = rejected(body)
    assert (error.param, error.code, error.type) == (
        "seed",
        "unsupported_parameter",
        "invalid_request_error",
    )
    assert "seed" not in translate(body, drop_unsupported_params=True)


def test_tools_and_choices() -> None:
    assert convert_tool_choice("none", False) == {"type": "none"}
    assert convert_tool_choice(None, None) is None
    with pytest.raises(RelayError):
        convert_tool_choice({"type": "function"}, None)
    assert rejected({"tools": [{"type": "custom", "custom": {"name": "x"}}]}).param == "tools[0]"
    assert "tool_choice" not in translate({"tool_choice": "none"})


# ---- reasoning -------------------------------------------------------------------------


def thinking_of(body: dict[str, Any], intent: ReasoningIntent | None = None, **model: Any):
    return build_request(call(body, intent, reasoning=True, **model), False).body


def test_effort_budgets_come_from_the_model_config() -> None:
    budgets = ReasoningBudgets(high=9000)
    body = thinking_of({"reasoning_effort": "xhigh"}, reasoning_budgets=budgets)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 9000}
    assert body["max_tokens"] == 9000 + 4096


def test_native_thinking_objects_pass_through() -> None:
    native = {"type": "enabled", "budget_tokens": 1500, "display": "summarized"}
    assert thinking_of({"thinking": native, "max_tokens": 8000})["thinking"] == native
    adaptive = thinking_of({"thinking": {"type": "adaptive"}})
    assert adaptive["thinking"] == {"type": "adaptive"} and adaptive["temperature"] == 1.0


def test_thinking_is_off_for_a_zero_budget_or_a_model_that_cannot_reason() -> None:
    assert "thinking" not in thinking_of({}, ReasoningIntent(True, budget=0))
    assert "thinking" not in translate({"reasoning_effort": "high"})


def test_apply_thinking_unforces_the_tool_choice_and_drops_sampling() -> None:
    out = {"max_tokens": 100, "top_p": 0.1, "top_k": 3, "temperature": 0.0}
    out["tool_choice"] = {"type": "tool", "name": "f", "disable_parallel_tool_use": True}
    apply_thinking(out, {"type": "enabled", "budget_tokens": 2000})
    assert out == {
        "max_tokens": 2100,
        "temperature": 1.0,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }


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
    ("status", "kind", "expected", "retry_after"),
    [
        (400, "invalid_request_error", 400, None),
        (413, "request_too_large", 413, None),
        (401, "authentication_error", 502, None),
        (403, "permission_error", 502, None),
        (429, "rate_limit_error", 429, 3.0),
        (500, "api_error", 502, None),
        (529, "overloaded_error", 503, 3.0),
    ],
)
def test_error_mapping(status: int, kind: str, expected: int, retry_after: Any) -> None:
    raw = anthropic_error(kind, f"bad things with {KEY}")
    error = map_anthropic_error("claude", status, raw, {"retry-after": "3"}, [KEY])
    assert (error.status, error.upstream_status, error.retry_after) == (
        expected,
        status,
        retry_after,
    )
    assert KEY[:16] not in error.message
    if status in (400, 413):
        assert (error.type, error.message) == (kind, "bad things with ***")


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
