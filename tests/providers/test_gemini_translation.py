"""The Gemini translation functions on their own: request, response, stream, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from llmrelay.config import GeminiProvider as GeminiConfig
from llmrelay.config import ModelConfig
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.protocol.request import parse_chat_request
from llmrelay.providers.base import UpstreamCall, UpstreamError
from llmrelay.providers.gemini import GeminiProvider
from llmrelay.providers.gemini_request import build_body, build_contents, build_tool_config
from llmrelay.providers.gemini_response import (
    completion_from,
    finish_reason,
    map_gemini_error,
    usage_from,
)
from llmrelay.providers.gemini_stream import GeminiEvents
from llmrelay.providers.images import InlineImage
from llmrelay.providers.sse_reader import SSEEvent

KEY = "AIzaSy-unit-test-key-0123456789abcdef"


class FakeImages:
    """Stands in for ImageFetcher: answers each URL, or refuses those containing 'bad'."""

    def __init__(self) -> None:
        self.fetched: list[tuple[str, str]] = []

    async def fetch(self, url: str, param: str) -> InlineImage:
        self.fetched.append((url, param))
        await asyncio.sleep(0.01 if "slow" in url else 0)
        if "bad" in url:
            raise RelayError(400, "refused", param=param, code="invalid_image_url")
        return InlineImage("image/jpeg", url.rsplit("/", 1)[-1])


def call_for(body: dict[str, Any], **model: Any) -> UpstreamCall:
    request = parse_chat_request(orjson.dumps({"model": "m", **body}))
    config = ModelConfig(provider="g", **model)
    return UpstreamCall(request, "gemini-x", "req_1", model=config, reasoning=request.reasoning)


async def contents(messages: list[dict[str, Any]], images: Any = None):
    return await build_contents(messages, images or FakeImages())


def assistant_call(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }


# ---- request --------------------------------------------------------------------------------


async def test_system_only_conversation_becomes_a_user_turn() -> None:
    system, turns = await contents([{"role": "system", "content": "Say hi."}])
    assert system is None and turns == [{"role": "user", "parts": [{"text": "Say hi."}]}]


async def test_empty_conversation_is_refused() -> None:
    with pytest.raises(RelayError) as caught:
        await contents([{"role": "user", "content": ""}])
    assert caught.value.param == "messages"


async def test_tool_names_are_looked_up_and_generated_ids_stay_home() -> None:
    generated = "call_" + "ab" * 12
    _, turns = await contents(
        [
            {"role": "user", "content": "go"},
            assistant_call(generated, "lookup", '{"q": "x"}'),
            {"role": "tool", "tool_call_id": generated, "content": '{"ok": true}'},
            {"role": "user", "content": "and?"},
            {"role": "function", "name": "legacy", "content": "old style"},
        ]
    )
    assert turns[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "lookup", "args": {"q": "x"}}}],
    }
    assert turns[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "lookup", "response": {"content": '{"ok": true}'}}},
            {"text": "and?"},
            {"functionResponse": {"name": "legacy", "response": {"content": "old style"}}},
        ],
    }


@pytest.mark.parametrize(
    "arguments, why", [("{not json", "not valid JSON"), ("[1, 2]", "a JSON object")]
)
async def test_bad_tool_arguments_are_refused(arguments: str, why: str) -> None:
    with pytest.raises(RelayError) as caught:
        await contents([{"role": "user", "content": "x"}, assistant_call("c1", "f", arguments)])
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"
    assert why in caught.value.message


async def test_assistant_extras_reasoning_dropped_signature_kept() -> None:
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}],
        "reasoning_content": "hidden thoughts",
        "extra_content": {"google": {"thought_signature": "SIG"}},
    }
    _, turns = await contents([{"role": "user", "content": "q"}, message])
    assert turns[1]["parts"] == [{"text": "a"}, {"text": "b", "thoughtSignature": "SIG"}]


async def test_media_parts() -> None:
    images = FakeImages()
    parts = [
        {"type": "image_url", "image_url": {"url": "https://example.com/slow/1.jpg"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/2.jpg"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.png"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "JVBERi0="}},
        {"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}},
    ]
    _, turns = await contents([{"role": "user", "content": parts}], images)
    assert turns[0]["parts"] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "1.jpg"}},
        {"inlineData": {"mimeType": "image/jpeg", "data": "2.jpg"}},
        {"fileData": {"fileUri": "gs://bucket/cat.png", "mimeType": "image/png"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"inlineData": {"mimeType": "text/plain", "data": "aGk="}},
    ]
    assert [param for _, param in images.fetched] == [
        "messages[0].content[0].image_url.url",
        "messages[0].content[1].image_url.url",
    ]


@pytest.mark.parametrize(
    "part, param",
    [
        ({"type": "image_url", "image_url": {"url": "https://x/bad.png"}}, ".image_url.url"),
        ({"type": "image_url", "image_url": {"url": "data:image/png,raw"}}, ".image_url.url"),
        ({"type": "input_audio", "input_audio": {"data": "x", "format": "ogg"}}, ".input_audio"),
        ({"type": "file", "file": {"file_id": "file-1"}}, ".file.file_id"),
        ({"type": "file", "file": {}}, ".file.file_data"),
    ],
)
async def test_bad_media_is_refused_naming_the_part(part: dict, param: str) -> None:
    content = [{"type": "text", "text": "x"}, part]
    with pytest.raises(RelayError) as caught:
        await contents([{"role": "user", "content": content}])
    assert caught.value.status == 400 and caught.value.param == "messages[0].content[1]" + param


@pytest.mark.parametrize(
    "choice, param",
    [("sometimes", "tool_choice"), ({"type": "function"}, "tool_choice.function.name")],
)
def test_bad_tool_choice(choice: Any, param: str) -> None:
    with pytest.raises(RelayError) as caught:
        build_tool_config(choice)
    assert caught.value.param == param


async def test_generation_config_and_drops() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "top_logprobs": 3,
        "response_format": {"type": "text"},
        "logit_bias": {"1": 5},
        "tools": [{"type": "custom", "custom": {"name": "c"}}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {}},
        "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}],
    }
    payload = await build_body(call_for(body, drop_unsupported_params=True), FakeImages())
    assert payload == {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "safetySettings": body["safety_settings"],
    }
    with pytest.raises(RelayError) as caught:
        await build_body(call_for(body), FakeImages())
    assert caught.value.code == "unsupported_parameter" and caught.value.param == "logit_bias"


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"presence_penalty": "high"}, "presence_penalty"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ],
)
async def test_bad_parameters_are_named(extra: dict, param: str) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(RelayError) as caught:
        await build_body(call_for(body), FakeImages())
    assert caught.value.param == param


async def test_suffix_intent_wins_and_explicit_budget() -> None:
    call = call_for({"messages": [{"role": "user", "content": "x"}]})
    call.reasoning = ReasoningIntent(True, budget=777)
    payload = await build_body(call, FakeImages())
    thinking = payload["generationConfig"]["thinkingConfig"]
    assert thinking == {"thinkingBudget": 777, "includeThoughts": True}


# ---- response -------------------------------------------------------------------------------

FILTERED = "SAFETY RECITATION LANGUAGE OTHER BLOCKLIST PROHIBITED_CONTENT SPII IMAGE_SAFETY"


@pytest.mark.parametrize(
    "reason, calls, expected",
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", True, "length"),
        ("MALFORMED_FUNCTION_CALL", False, "stop"),
        ("TOO_MANY_TOOL_CALLS", True, "stop"),
        ("SOMETHING_NEW", False, "stop"),
        (None, False, "stop"),
        *[(reason, False, "content_filter") for reason in FILTERED.split()],
    ],
)
def test_finish_reason(reason: str | None, calls: bool, expected: str) -> None:
    assert finish_reason(reason, calls) == expected


def test_usage_counts_thoughts_and_tool_prompts() -> None:
    assert usage_from(None) is None
    usage = usage_from(
        {
            "promptTokenCount": 10,
            "toolUsePromptTokenCount": 4,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 6,
            "cachedContentTokenCount": 2,
        }
    )
    assert usage == {
        "prompt_tokens": 14,
        "completion_tokens": 11,
        "total_tokens": 25,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 6},
    }


def test_completion_with_two_candidates() -> None:
    parts = [
        {"text": "hmm", "thought": True},
        {"text": "a"},
        {"text": "b", "thoughtSignature": "S1"},
        {"functionCall": {"name": "f", "args": {"x": "é"}}},
    ]
    response = {
        "candidates": [
            {"content": {"parts": parts}, "finishReason": "STOP"},
            {"index": 1, "content": {"parts": [{"text": "other"}]}, "finishReason": "MAX_TOKENS"},
        ],
        "modelVersion": "gemini-x-002",
    }
    completion = completion_from(response, "gemini-x")
    first, second = completion["choices"]
    assert completion["model"] == "gemini-x-002" and "usage" not in completion
    assert first["message"]["content"] == "ab" and first["message"]["reasoning_content"] == "hmm"
    assert first["message"]["extra_content"] == {"google": {"thought_signature": "S1"}}
    assert first["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x":"é"}'}
    assert first["finish_reason"] == "tool_calls"
    assert (second["index"], second["finish_reason"]) == (1, "length")


def test_no_candidates_without_block_reason_is_an_empty_stop() -> None:
    [choice] = completion_from({"promptFeedback": {}}, "g")["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"] is None


# ---- errors ---------------------------------------------------------------------------------


def _error(code: int, status: str, message: str = "m", *details: dict) -> bytes:
    error = {"code": code, "message": message, "status": status, "details": list(details)}
    return orjson.dumps({"error": error})


def _retry(delay: str) -> dict[str, str]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


@pytest.mark.parametrize(
    "status, raw, headers, expected",
    [
        (400, _error(400, "INVALID_ARGUMENT", f"bad {KEY}"), {}, (400, "invalid_value", None)),
        (
            429,
            _error(429, "RESOURCE_EXHAUSTED", "q", _retry("1.5s")),
            {},
            (429, "rate_limit_exceeded", 1.5),
        ),
        (429, b"", {"retry-after": "9"}, (429, "rate_limit_exceeded", 9.0)),
        (429, b"[]", {}, (429, "rate_limit_exceeded", 1.0)),
        (
            503,
            b"[" + _error(503, "UNAVAILABLE", "busy", _retry("3s")) + b"]",
            {},
            (503, "upstream_overloaded", 3),
        ),
        (401, b"not json", {}, (502, "upstream_auth_error", None)),
        (400, _error(401, "UNAUTHENTICATED"), {}, (502, "upstream_auth_error", None)),
        (404, _error(404, "NOT_FOUND"), {}, (404, "model_not_found", None)),
        (504, _error(504, "DEADLINE_EXCEEDED"), {}, (504, "upstream_timeout", None)),
        (500, _error(500, "INTERNAL"), {}, (502, "upstream_error", None)),
        (502, b"<html>", {}, (502, "upstream_error", None)),
    ],
)
def test_error_mapping(status: int, raw: bytes, headers: dict, expected: tuple) -> None:
    error = map_gemini_error("g", status, raw, headers, [KEY])
    want_status, want_code, want_retry = expected
    assert error.status == want_status and error.upstream_status == status
    if want_code:
        assert error.code == want_code
    assert error.retry_after == want_retry
    assert KEY not in error.message and KEY[: len(KEY) // 2] not in error.message


def test_invalid_api_key_is_an_operator_problem() -> None:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    raw = _error(400, "INVALID_ARGUMENT", "API key not valid.", info)
    error = map_gemini_error("g", 400, raw, {}, [KEY])
    assert (error.status, error.code) == (502, "upstream_auth_error")


# ---- stream ---------------------------------------------------------------------------------


def events(frames: list[dict[str, Any]]) -> tuple[GeminiEvents, list[dict[str, Any]]]:
    translator = GeminiEvents(GeminiProvider("g", GeminiConfig(api_key=KEY)), "gemini-x")
    chunks = [
        c for f in frames for c in translator.translate(SSEEvent(None, orjson.dumps(f).decode()))
    ]
    return translator, chunks


def _frame(parts: list[dict], finish: str | None = None, index: int | None = None) -> dict:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        candidate["finishReason"] = finish
    if index is not None:
        candidate["index"] = index
    return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": len(parts)}}


def test_stream_orders_pieces_counts_tools_per_choice_and_signs_once() -> None:
    call = {"functionCall": {"name": "f", "args": {}}}
    translator, chunks = events(
        [
            _frame([{"text": "t", "thought": True}, {"text": "a", "thoughtSignature": "S1"}]),
            _frame([call, {**call, "thoughtSignature": "C"}], index=1),
            _frame([{"text": "", "thoughtSignature": "S2"}, call], "STOP"),
            _frame([call], "STOP", index=1),
        ]
    )
    seen = [(c["choices"][0]["index"], c["choices"][0]["delta"]) for c in chunks]
    calls = [(i, [t["index"] for t in d["tool_calls"]]) for i, d in seen if "tool_calls" in d]
    assert calls == [(1, [0, 1]), (0, [0]), (1, [2])]
    assert seen[:2] == [(0, {"reasoning_content": "t"}), (0, {"content": "a"})]
    signatures = [d["extra_content"] for _, d in seen if "extra_content" in d]
    assert signatures == [{"google": {"thought_signature": "S2"}}]
    finishes = [
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]
    ]
    assert finishes == ["tool_calls", "tool_calls"]
    [usage] = translator.finish()
    assert usage["choices"] == [] and usage["usage"]["prompt_tokens"] == 1


@pytest.mark.parametrize(
    "frames",
    [[], [_frame([{"text": "a"}])], [_frame([{"text": "a"}], "STOP"), _frame([], index=1)]],
)
def test_stream_without_every_finish_is_cut(frames: list[dict]) -> None:
    translator, _ = events(frames)
    with pytest.raises(UpstreamError) as caught:
        translator.finish()
    assert caught.value.code == "upstream_stream_cut"


def test_stream_error_frame_and_garbage() -> None:
    with pytest.raises(UpstreamError) as caught:
        events([{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow"}}])
    assert (caught.value.status, caught.value.retry_after) == (429, 1.0)
    translator, _ = events([])
    with pytest.raises(UpstreamError) as caught:
        translator.translate(SSEEvent(None, "not json"))
    assert caught.value.code == "upstream_malformed"


def test_provider_urls_and_owned_fetcher() -> None:
    provider = GeminiProvider("g", GeminiConfig(base_url="http://h/v1beta/"))
    assert (
        provider.url("models/gemini-x", False) == "http://h/v1beta/models/gemini-x:generateContent"
    )
    assert provider.url("g y", True) == "http://h/v1beta/models/g%20y:streamGenerateContent?alt=sse"
    assert provider._owns_images and "x-goog-api-key" not in provider._headers
