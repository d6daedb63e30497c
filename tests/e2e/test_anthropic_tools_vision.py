"""Claude through the relay with the openai SDK, against the mock Anthropic Messages API:
tools (calls, streamed fragments, tool_choice, results), vision, JSON mode and parameters.

Fixtures and helpers are shared with test_anthropic.py through anthropic_fixtures.py.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.conftest import RunningRelay
from tests.e2e import anthropic_fixtures as shared
from tests.e2e.anthropic_fixtures import (
    CALLS,
    CITY,
    TOOLS,
    WEATHER,
    accumulate,
    answer_of,
    ask,
    chunks_of,
    raw_frames,
    text,
    tool_turn,
    user,
)
from tests.mocks.anthropic_upstream import MockAnthropic

# The same fixtures in every Anthropic module (one mock and one relay per module).
mock, claude_relay, key, claude = shared.mock, shared.claude_relay, shared.key, shared.claude


PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg"
)
PNG += "=="


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
