"""Claude through the relay: the official openai SDK against a mock Anthropic Messages API.

What the mock receives is asserted field by field; streamed answers, accumulated, must equal
the whole ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.mocks.anthropic_upstream import (
    ANTHROPIC_KEY,
    REDACTED,
    SIGNATURE,
    VERSION,
    MockAnthropic,
)

WRONG_KEY = "sk-ant-wrong-key-9876543210-zyxwvutsrqponm"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg"
)
PNG += "=="
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


def test_vision_data_uri_and_url(claude, mock: MockAnthropic) -> None:
    data_uri = {"url": f"data:image/png;base64,{PNG}", "detail": "high"}
    content = [text("what is this?"), {"type": "image_url", "image_url": data_uri}]
    content.append({"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}})
    assert ask(claude, messages=user(content)).choices[0].message.content == "echo: what is this?"
    assert mock.last().body["messages"][0]["content"] == [
        text("what is this?"),
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    ("model", "url", "code"),
    [
        ("claude-haiku-4-5", "https://example.com/a.png", "unsupported_content"),
        ("claude-sonnet-4-6", "data:image/png,notbase64", "invalid_image_url"),
        ("claude-sonnet-4-6", "ftp://example.com/a.png", "invalid_image_url"),
    ],
)
def test_images_that_cannot_be_sent(claude, mock, model: str, url: str, code: str) -> None:
    received = len(mock.received)
    content = [text("look"), {"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(openai.BadRequestError) as caught:
        ask(claude, model, messages=user(content))
    where = "messages[0].content[1]" + (".image_url.url" if code == "invalid_image_url" else "")
    assert (caught.value.body["param"], caught.value.body["code"]) == (where, code)
    assert len(mock.received) == received


def test_tool_calls_whole_and_streamed(claude, mock: MockAnthropic) -> None:
    whole = ask(claude, "claude-tools", "weather in Paris?", tools=TOOLS)
    assert mock.last().body["tools"] == [
        {**WEATHER, "input_schema": CITY},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in mock.last().body
    expected = {"content": "Let me check.", "tool_calls": CALLS, "finish_reason": "tool_calls"}
    assert answer_of(whole) == {**expected, "reasoning_content": None, "thinking_blocks": None}
    streamed = accumulate(claude, "claude-tools", "weather in Paris?", tools=TOOLS)
    assert answer_of(streamed) == answer_of(whole)


def test_streamed_tool_call_fragments(claude_relay: RunningRelay, key: str) -> None:
    body = {"model": "claude-tools", "stream": True, "tools": TOOLS, "messages": user("weather?")}
    fragments = [
        call
        for chunk in chunks_of(raw_frames(claude_relay, key, body))
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or ()
    ]
    for index, (call_id, name, arguments) in enumerate(CALLS):
        mine = [f for f in fragments if f["index"] == index]
        assert mine[0]["id"] == call_id and mine[0]["function"]["name"] == name
        assert all("id" not in f and "name" not in f["function"] for f in mine[1:])
        assert "".join(f["function"]["arguments"] for f in mine) == arguments
    assert {f["index"] for f in fragments} == {0, 1}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "now"}}, None, {"type": "tool", "name": "now"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice(claude, mock: MockAnthropic, choice: Any, parallel: Any, expected) -> None:
    extra = {"tool_choice": choice} if choice else {}
    extra |= {"parallel_tool_calls": parallel} if parallel is not None else {}
    ask(claude, tools=TOOLS, **extra)
    assert mock.last().body["tool_choice"] == expected


def tool_turn(**extra: Any) -> list[dict[str, Any]]:
    calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
        for i, n, a in [CALLS[0], (*CALLS[1][:2], "")]
    ]
    assistant = {"role": "assistant", "content": "Let me check.", "tool_calls": calls, **extra}
    sunny = {"role": "tool", "tool_call_id": "toolu_01A", "content": "sunny"}
    noon = {"role": "tool", "tool_call_id": "toolu_01B", "content": [text("12:00")]}
    return [*user("weather please"), assistant, sunny, noon]


def test_tool_results_round_trip(claude, mock: MockAnthropic) -> None:
    completion = ask(claude, "claude-tools", messages=tool_turn(), tools=TOOLS)
    assert completion.choices[0].message.content == "results: sunny; 12:00"
    assert mock.last().body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                text("Let me check."),
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather"}
                | {"input": {"city": "Paris", "days": 3}},
                {"type": "tool_use", "id": "toolu_01B", "name": "now", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [text("12:00")]},
            ],
        },
    ]


SCHEMA = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [
        ({"type": "json_object"}, {"type": "object"}),
        ({"type": "json_schema", "json_schema": {"name": "echo", "schema": SCHEMA}}, SCHEMA),
    ],
)
def test_json_mode(claude, mock: MockAnthropic, response_format: dict, schema: dict) -> None:
    whole = ask(claude, text="hello json", response_format=response_format)
    body = mock.last().body
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [("json_tool_call", schema)]
    answer = answer_of(whole)
    expected = {"echo": "hello json", "words": 2, "ok": True, "città": "Zürich"}
    assert json.loads(answer["content"]) == expected
    assert answer["tool_calls"] == [] and answer["finish_reason"] == "stop"
    assert (
        answer_of(accumulate(claude, text="hello json", response_format=response_format)) == answer
    )


def test_json_mode_while_thinking_does_not_force_the_tool(claude, mock: MockAnthropic) -> None:
    whole = ask(claude, text="hi", response_format={"type": "json_object"}, reasoning_effort="low")
    assert mock.last().body["tool_choice"] == {"type": "auto"}
    assert json.loads(whole.choices[0].message.content)["echo"] == "hi"


THOUGHT = {"type": "thinking", "thinking": "The user wrote: think hard", "signature": SIGNATURE}


@pytest.mark.parametrize(
    ("model", "kwargs", "budget", "max_tokens"),
    [
        ("claude-sonnet-4-6", {"reasoning_effort": "high"}, 4096, 8192),
        (
            "claude-sonnet-4-6",
            {"reasoning_effort": "low", "max_completion_tokens": 5000},
            1024,
            5000,
        ),
        ("claude-sonnet-4-6-thinking-8000", {}, 8000, 12096),
        ("claude-sonnet-4-6-thinking-100", {}, 1024, 4096),
        ("claude-sonnet-4-6-high", {}, 4096, 8192),
        ("claude-sonnet-4-6-thinking", {}, 2048, 4096),
        ("claude-budget-high", {}, 6000, 10096),
        ("claude-sonnet-4-6-low", {"reasoning_effort": "high"}, 1024, 4096),
        (
            "claude-sonnet-4-6",
            {"extra_body": {"thinking": {"type": "enabled", "budget_tokens": 3000}}},
            3000,
            4096,
        ),
    ],
)
def test_reasoning(claude, mock: MockAnthropic, model: str, kwargs, budget, max_tokens) -> None:
    completion = ask(claude, model, "think hard", temperature=0.2, top_p=0.5, **kwargs)
    body = mock.last().body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == max_tokens
    assert body["temperature"] == 1.0 and "top_p" not in body
    assert completion.model == model
    answer = answer_of(completion)
    assert answer["reasoning_content"] == THOUGHT["thinking"]
    assert answer["thinking_blocks"] == [THOUGHT]
    assert answer["content"] == "echo: think hard"


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("claude-sonnet-4-6-nothinking", {"reasoning_effort": "high"}),
        ("claude-haiku-4-5", {"reasoning_effort": "high"}),
        ("claude-sonnet-4-6", {"reasoning_effort": "none"}),
        ("claude-sonnet-4-6", {}),
    ],
)
def test_no_reasoning(claude, mock: MockAnthropic, model: str, kwargs: dict) -> None:
    completion = ask(claude, model, "think hard", temperature=0.2, top_p=0.5, **kwargs)
    body = mock.last().body
    assert "thinking" not in body and body["temperature"] == 0.2 and body["top_p"] == 0.5
    assert answer_of(completion)["reasoning_content"] is None


def test_thinking_streamed_equals_whole(claude, claude_relay, key, mock) -> None:
    kwargs = {"text": "think and redact", "reasoning_effort": "medium"}
    whole = ask(claude, **kwargs)
    assert whole.choices[0].message.model_dump()["thinking_blocks"] == [
        {**THOUGHT, "thinking": "The user wrote: think and redact"},
        {"type": "redacted_thinking", "data": REDACTED},
    ]
    assert answer_of(accumulate(claude, **kwargs)) == answer_of(whole)
    body = {"model": "claude-sonnet-4-6", "stream": True, "messages": user("think and redact")}
    body |= {"reasoning_effort": "medium", "stream_options": {"include_usage": True}}
    chunks = chunks_of(raw_frames(claude_relay, key, body))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    first_reasoning = next(i for i, d in enumerate(deltas) if d.get("reasoning_content"))
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    assert first_reasoning < first_content
    [with_blocks] = [i for i, d in enumerate(deltas) if "thinking_blocks" in d]
    assert with_blocks == len(deltas) - 2 and deltas[-1] == {}
    thought = len("The user wrote: think and redact")
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == -(-thought // 4)
    assert chunks[-1]["usage"] == whole.usage.model_dump(exclude_none=True)


def test_thinking_blocks_come_back_for_tool_use(claude, mock: MockAnthropic) -> None:
    first = ask(claude, "claude-tools", "weather, redact", tools=TOOLS, reasoning_effort="low")
    assistant = first.choices[0].message.model_dump(exclude_none=True)
    tool_results = tool_turn()[2:]
    messages = [*user("weather, redact"), assistant, *tool_results]
    second = ask(claude, "claude-tools", messages=messages, tools=TOOLS, reasoning_effort="low")
    assert second.choices[0].message.content == "results: sunny; 12:00"
    body = mock.last().body
    assert body["thinking"]["type"] == "enabled"
    assert body["messages"][1]["content"][:2] == [
        {**THOUGHT, "thinking": "The user wrote: weather, redact"},
        {"type": "redacted_thinking", "data": REDACTED},
    ]
    # A client that dropped the blocks still gets an answer: the relay stops thinking there.
    ask(claude, "claude-tools", messages=tool_turn(), tools=TOOLS, reasoning_effort="low")
    assert "thinking" not in mock.last().body


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
        ("claude-529", 503, "overloaded_error", "upstream_overloaded"),
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


UNSUPPORTED = [
    ({"seed": 7}, "seed"),
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"logprobs": False, "top_logprobs": 3}, "top_logprobs"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"frequency_penalty": -0.3}, "frequency_penalty"),
]


@pytest.mark.parametrize(("kwargs", "param"), UNSUPPORTED)
def test_unsupported_parameters(claude, mock: MockAnthropic, kwargs: dict, param: str) -> None:
    received = len(mock.received)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(claude, **kwargs)
    assert caught.value.body["param"] == param
    assert caught.value.body["code"] == "unsupported_parameter"
    assert caught.value.body["type"] == "invalid_request_error"
    assert len(mock.received) == received
    assert ask(claude, "claude-lenient", **kwargs).choices[0].message.content == "echo: hi"
    assert not set(kwargs) & set(mock.last().body)


def test_default_values_of_unsupported_parameters_are_fine(claude) -> None:
    neutral = {"n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0}
    assert ask(claude, **neutral).choices[0].message.content == "echo: hi"


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


def test_ledger_counts_cache_and_reasoning(claude, claude_relay: RunningRelay) -> None:
    raw = claude.chat.completions.with_raw_response.create(
        model="claude-sonnet-4-6-low", messages=user("think hard")
    )
    usage = raw.parse().usage
    row = claude_relay.ledger_row(raw.headers["x-request-id"])
    assert row["provider"] == "anthropic" and row["upstream_model"] == "claude-sonnet-4-6"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert row["cached_tokens"] == 4
    assert row["reasoning_tokens"] == -(-len(THOUGHT["thinking"]) // 4) > 0
