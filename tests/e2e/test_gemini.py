"""The official openai SDK, through the relay, against a mock Gemini API (exact wire format):
text, system prompt, multi-turn, streaming rules, reasoning, finish reasons and errors.
Vision, tools, JSON mode and parameters are in test_gemini_tools_vision.py (same fixtures).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.mocks.gemini_upstream import (
    FINISH_REASONS,
    GEMINI_KEY,
    SCENARIOS,
    TEXT_SIGNATURE,
    MockGemini,
    png_bytes,
)

FAST = {"connect": 2, "first_token": 5, "idle": 5, "total": 20}
GENERATED_ID = re.compile(r"^call_[0-9a-f]{24}$")
PNG_B64 = base64.b64encode(png_bytes()).decode()
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    },
    {"type": "function", "function": {"name": "get_time"}},
]


def gemini_config(mock: MockGemini, images: dict[str, Any] | None) -> dict[str, Any]:
    provider = {"type": "gemini", "base_url": mock.base_url, "timeouts": FAST}
    budgets = {"minimal": 128, "low": 512, "medium": 1536, "high": 8192}
    models: dict[str, Any] = {
        name: {"provider": "gemini", "upstream_model": name, "reasoning": True}
        for name in SCENARIOS
    }
    models |= {
        "gemini-2.5-pro": {"provider": "gemini", "reasoning": True, "vision": True},
        "gemini-budgets": {"provider": "gemini", "reasoning": True, "reasoning_budgets": budgets},
        "gemini-capped": {"provider": "gemini", "max_tokens_default": 3},
        "gemini-lenient": {"provider": "gemini", "drop_unsupported_params": True},
        "gemini-bad-key": {"provider": "gemini-bad-key", "upstream_model": "gemini-2.5-pro"},
        "gemini-no-key": {"provider": "gemini-no-key", "upstream_model": "gemini-2.5-pro"},
    }
    config = {
        "providers": {
            "gemini": {**provider, "api_key": GEMINI_KEY},
            "gemini-bad-key": {**provider, "api_key": "AIzaSyWRONG-key-abcdefghijklmnop"},
            "gemini-no-key": provider,
        },
        "models": models,
    }
    return config | ({"images": images} if images else {})


@pytest.fixture(scope="module")
def mock() -> Iterator[MockGemini]:
    server = MockGemini()
    server.start()
    yield server
    server.stop()


def _relay(config: dict[str, Any], directory: Any) -> Iterator[tuple[RunningRelay, str]]:
    running = start_relay(config, directory)
    yield running, running.create_key("gemini-tests")
    stop_relay(running)


@pytest.fixture(scope="module")
def relay(mock: MockGemini, tmp_path_factory: pytest.TempPathFactory):
    images = {"allow_private_networks": True, "max_bytes": 50_000, "timeout_seconds": 2}
    yield from _relay(gemini_config(mock, images), tmp_path_factory.mktemp("gemini-open"))


@pytest.fixture(scope="module")
def client(relay: tuple[RunningRelay, str]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay[0].base_url, api_key=relay[1], max_retries=0) as c:
        yield c


def user(*content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(content) if len(content) > 1 else content[0]}]


def ask(client: openai.OpenAI, model: str = "gemini-2.5-pro", text: str = "hi there", **kw):
    return client.chat.completions.create(
        model=model, messages=kw.pop("messages", user(text)), **kw
    )


def accumulate(client: openai.OpenAI, model: str = "gemini-2.5-pro", text: str = "hi", **kw):
    messages = kw.pop("messages", user(text))
    kw.setdefault("stream_options", {"include_usage": True})
    with client.chat.completions.stream(model=model, messages=messages, **kw) as stream:
        for _ in stream:
            pass
        try:
            return stream.get_final_completion()
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
            return exc.completion  # the SDK's parse helpers refuse these; the data is there


def raw_stream(relay: tuple[RunningRelay, str], body: dict[str, Any]) -> list[Any]:
    """Every SSE frame of a streamed call, parsed; `[DONE]` stays a string."""
    headers = {"authorization": f"Bearer {relay[1]}"}
    url = relay[0].url + "/v1/chat/completions"
    with httpx.stream("POST", url, headers=headers, json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), lines
    return [line[6:] if line == "data: [DONE]" else orjson.loads(line[6:]) for line in lines]


def summary(completion: Any) -> list[dict[str, Any]]:
    """What a client sees of each choice, tool call ids normalised when the relay made them."""
    seen = []
    for choice in completion.choices:
        message = choice.message.model_dump(exclude_none=True, exclude={"parsed"})
        for call in message.get("tool_calls", []):
            call.pop("index", None)  # streaming's merge key, kept by the SDK's accumulator
            call["function"].pop("parsed_arguments", None)
            call["id"] = "generated" if GENERATED_ID.match(call["id"]) else call["id"]
        logprobs = choice.logprobs.model_dump() if choice.logprobs else None
        seen.append({"message": message, "finish": choice.finish_reason, "logprobs": logprobs})
    return seen


# ---- text, system prompt, multi-turn --------------------------------------------------------


def test_request_translated_field_by_field(client: openai.OpenAI, mock: MockGemini) -> None:
    completion = client.chat.completions.create(
        model="gemini-2.5-pro",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first question"},
            {"role": "user", "content": "more detail"},
            {"role": "assistant", "content": "first answer"},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
        temperature=0.3,
        top_p=0.8,
        max_completion_tokens=50,
        stop=["END", ""],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        user="someone",
        extra_body={"top_k": 20},
    )
    sent = mock.last()
    assert sent.path == "/v1beta/models/gemini-2.5-pro:generateContent" and sent.query == {}
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY and "authorization" not in sent.headers
    assert sent.body == {
        "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "first question"}, {"text": "more detail"}]},
            {"role": "model", "parts": [{"text": "first answer"}]},
            {"role": "user", "parts": [{"text": "second question"}]},
        ],
        "generationConfig": {
            "maxOutputTokens": 50,
            "temperature": 0.3,
            "topP": 0.8,
            "topK": 20,
            "seed": 7,
            "presencePenalty": 0.5,
            "frequencyPenalty": -0.5,
            "stopSequences": ["END"],
        },
    }
    assert completion.id == "chatcmpl-mockResponse42" and completion.model == "gemini-2.5-pro"
    [choice] = completion.choices
    assert choice.message.content == "echo: second question" and choice.finish_reason == "stop"
    assert choice.message.role == "assistant" and not choice.message.tool_calls
    assert completion.usage.model_dump(exclude_none=True) == {
        "prompt_tokens": 26,
        "completion_tokens": 3,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_stream_follows_openai_wire_rules(relay, mock: MockGemini) -> None:
    frames = raw_stream(
        relay,
        {
            "model": "gemini-2.5-pro-high",
            "stream_options": {"include_usage": True},
            "messages": user("one two three four"),
        },
    )
    assert mock.last().path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert mock.last().query == {"alt": "sse"}
    *chunks, usage_chunk, done = frames
    assert done == "[DONE]"
    assert len({c["id"] for c in frames[:-1]}) == 1 and {c["model"] for c in chunks} == {
        "gemini-2.5-pro-high"
    }
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["role"] == "assistant" and not any("role" in d for d in deltas[1:])
    kinds = [k for d in deltas for k in ("reasoning_content", "content") if d.get(k)]
    assert kinds == ["reasoning_content", "content", "content", "content"]
    assert "".join(d.get("content") or "" for d in deltas) == "echo: one two three four"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert chunks[-1]["choices"][0]["delta"] == {} and all(c["usage"] is None for c in chunks)
    assert deltas[-2] == {"extra_content": {"google": {"thought_signature": TEXT_SIGNATURE}}}
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 5 + 7
    assert usage_chunk["usage"]["completion_tokens_details"] == {"reasoning_tokens": 7}


@pytest.mark.parametrize(
    "model, kwargs",
    [
        ("gemini-2.5-pro", {"reasoning_effort": "high"}),
        ("mock-tools", {"tools": WEATHER_TOOLS}),
        ("mock-json", {"response_format": {"type": "json_object"}}),
        ("gemini-2.5-pro", {"n": 2}),
        ("gemini-2.5-pro", {"logprobs": True, "top_logprobs": 2}),
        ("mock-finish-SAFETY", {}),
        ("mock-blocked", {}),
    ],
)
def test_streamed_answer_accumulates_to_the_whole_one(client, model: str, kwargs) -> None:
    whole = ask(client, model, "same answer twice", **kwargs)
    streamed = accumulate(client, model, "same answer twice", **kwargs)
    assert summary(streamed) == summary(whole)
    assert streamed.usage == whole.usage


# ---- reasoning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, effort, expected",
    [
        ("gemini-2.5-pro", "minimal", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-pro", "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-2.5-pro", "medium", {"thinkingBudget": 2048, "includeThoughts": True}),
        ("gemini-2.5-pro", "high", {"thinkingBudget": 4096, "includeThoughts": True}),
        ("gemini-2.5-pro", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-budgets", "minimal", {"thinkingBudget": 128, "includeThoughts": True}),
        ("gemini-budgets", "high", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("gemini-2.5-pro-thinking-2048", None, {"thinkingBudget": 2048, "includeThoughts": True}),
        ("gemini-2.5-pro-thinking", None, {"thinkingBudget": 2048, "includeThoughts": True}),
        ("gemini-2.5-pro-low", None, {"thinkingBudget": 1024, "includeThoughts": True}),
        ("gemini-budgets-medium", None, {"thinkingBudget": 1536, "includeThoughts": True}),
        ("gemini-2.5-pro-nothinking", None, {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-2.5-pro", None, None),
    ],
)
def test_reasoning_becomes_thinking_config(client, mock, model, effort, expected) -> None:
    kwargs = {"reasoning_effort": effort} if effort else {}
    ask(client, model, **kwargs)
    sent = mock.last()
    assert sent.body.get("generationConfig", {}).get("thinkingConfig") == expected
    upstream = "gemini-budgets" if model.startswith("gemini-budgets") else "gemini-2.5-pro"
    assert sent.path == f"/v1beta/models/{upstream}:generateContent"


def test_native_thinking_field_sets_the_budget(client, mock: MockGemini) -> None:
    ask(client, extra_body={"thinking": {"type": "enabled", "budget_tokens": 3000}})
    thinking = mock.last().body["generationConfig"]["thinkingConfig"]
    assert thinking == {"thinkingBudget": 3000, "includeThoughts": True}


def test_thinking_comes_back_and_its_signature_goes_back(client, mock: MockGemini) -> None:
    completion = ask(client, "gemini-2.5-pro-thinking", "think hard")
    message = completion.choices[0].message
    assert message.reasoning_content == "The user said: think hard"
    assert message.content == "echo: think hard"
    assert message.extra_content == {"google": {"thought_signature": TEXT_SIGNATURE}}
    assert completion.usage.completion_tokens == 3 + 7
    assert completion.usage.completion_tokens_details.reasoning_tokens == 7
    echoed = message.model_dump(exclude_none=True)
    ask(client, "gemini-2.5-pro", messages=[*user("think hard"), echoed, *user("again")])
    assert mock.last().body["contents"][1] == {
        "role": "model",
        "parts": [{"text": "echo: think hard", "thoughtSignature": TEXT_SIGNATURE}],
    }


def test_ledger_counts_reasoning_and_cached_tokens(relay, client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-pro-low", messages=user("count me")
    )
    row = relay[0].ledger_row(raw.headers["x-request-id"])
    assert (row["provider"], row["upstream_model"]) == ("gemini", "gemini-2.5-pro")
    assert (row["reasoning_tokens"], row["cached_tokens"], row["completion_tokens"]) == (7, 3, 10)


# ---- finish reasons and errors --------------------------------------------------------------

EXPECTED_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"} | {
    reason: "stop"
    for reason in (
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "FINISH_REASON_UNSPECIFIED",
    )
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("reason", FINISH_REASONS)
def test_finish_reasons(client: openai.OpenAI, reason: str, stream: bool) -> None:
    completion = (accumulate if stream else ask)(client, f"mock-finish-{reason}")
    [choice] = completion.choices
    assert choice.finish_reason == EXPECTED_FINISH.get(reason, "content_filter")
    has_text = reason in ("STOP", "MAX_TOKENS", "RECITATION")
    assert choice.message.content == ("partial" if has_text else None)


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_prompt_is_content_filter(client: openai.OpenAI, stream: bool) -> None:
    completion = (accumulate if stream else ask)(client, "mock-blocked")
    [choice] = completion.choices
    assert choice.finish_reason == "content_filter" and choice.message.content is None
    assert completion.usage.prompt_tokens == 5 and completion.usage.completion_tokens == 0


ERROR_CASES = [
    ("mock-error-400", 400, openai.BadRequestError, "invalid_value", None),
    ("mock-error-403", 502, openai.InternalServerError, "upstream_auth_error", None),
    ("mock-error-404", 404, openai.NotFoundError, "model_not_found", None),
    ("mock-error-429", 429, openai.RateLimitError, "rate_limit_exceeded", "22"),
    ("mock-error-500", 502, openai.InternalServerError, "upstream_error", None),
    ("mock-error-503", 503, openai.InternalServerError, "upstream_overloaded", None),
    ("mock-error-504", 504, openai.InternalServerError, "upstream_timeout", None),
    ("mock-error-precondition", 502, openai.InternalServerError, "upstream_error", None),
    ("gemini-bad-key", 502, openai.InternalServerError, "upstream_auth_error", None),
    ("gemini-no-key", 502, openai.InternalServerError, "upstream_auth_error", None),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model, status, exception, code, retry_after", ERROR_CASES)
def test_upstream_errors(client, model, status, exception, code, retry_after, stream) -> None:
    with pytest.raises(exception) as caught:
        ask(client, model, stream=stream)
    error = caught.value
    assert error.status_code == status and error.body["code"] == code
    assert error.response.headers.get("retry-after") == retry_after
    assert GEMINI_KEY not in error.response.text and GEMINI_KEY[:20] not in error.response.text
    assert error.response.headers["content-type"].startswith("application/json")


def test_error_in_the_middle_of_a_stream(client, relay) -> None:
    pieces = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in ask(client, "mock-midstream", stream=True):
            pieces.append(chunk.choices[0].delta.content or "")
    assert "".join(pieces) == "partial answer"
    assert "overloaded" in caught.value.message
    frames = raw_stream(relay, {"model": "mock-midstream", "messages": user("x")})
    assert frames[-1]["error"]["code"] == "upstream_overloaded"


def test_stream_closed_without_finish_is_cut(relay) -> None:
    frames = raw_stream(relay, {"model": "mock-cut", "messages": user("x")})
    assert frames[-1]["error"]["code"] == "upstream_stream_cut"
    text = "".join(f["choices"][0]["delta"].get("content", "") for f in frames[:-1])
    assert text == "never finished"
