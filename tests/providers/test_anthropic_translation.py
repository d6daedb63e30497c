"""The Anthropic request translation, one rule at a time (no server, no network): messages,
parameters and reasoning. Answers, errors and streams are in test_anthropic_response.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmrelay.config import ModelConfig, ReasoningBudgets
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.protocol.request import parse_chat_request
from llmrelay.providers.anthropic_request import (
    apply_thinking,
    build_request,
    convert_tool_choice,
    metadata_user_id,
    sampling,
)
from llmrelay.providers.base import UpstreamCall


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
