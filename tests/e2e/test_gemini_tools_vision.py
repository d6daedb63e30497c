"""Vision (data URIs, fetched URLs, the SSRF guard), tools, JSON mode and parameters, through
the relay with the openai SDK against the mock Gemini API.

Two relays: the one from test_gemini allows image URLs on private networks (the image server
is on 127.0.0.1); `guarded_relay` keeps the default SSRF guard and must refuse them without
connecting anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from tests.e2e import test_gemini as shared
from tests.e2e.test_gemini import (
    GENERATED_ID,
    PNG_B64,
    WEATHER_TOOLS,
    _relay,
    accumulate,
    ask,
    gemini_config,
    raw_stream,
    user,
)
from tests.mocks.gemini_upstream import CALL_SIGNATURE, ImageServer, MockGemini

mock, relay, client = shared.mock, shared.relay, shared.client  # the same fixtures, per module


@pytest.fixture(scope="module")
def image_server() -> Iterator[ImageServer]:
    server = ImageServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def guarded_relay(mock: MockGemini, tmp_path_factory: pytest.TempPathFactory):
    yield from _relay(gemini_config(mock, None), tmp_path_factory.mktemp("gemini-guarded"))


# ---- vision ---------------------------------------------------------------------------------


def test_data_uri_image_is_inlined(client: openai.OpenAI, mock: MockGemini) -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
    ask(client, messages=user({"type": "text", "text": "what is this"}, image))
    parts = mock.last().body["contents"][0]["parts"]
    assert parts == [
        {"text": "what is this"},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
    ]


def test_url_image_is_fetched_and_inlined(client, mock, image_server: ImageServer) -> None:
    url = image_server.url + "/cat.png"
    image = {"type": "image_url", "image_url": {"url": url, "detail": "high"}}
    completion = ask(client, messages=user({"type": "text", "text": "describe"}, image))
    assert completion.choices[0].message.content == "echo: describe"
    assert image_server.hits[-1] == "/cat.png"
    parts = mock.last().body["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}


@pytest.mark.parametrize("path", ["/notes.txt", "/big.png", "/missing.png", "/slow.png"])
def test_unusable_url_images_are_refused(client, mock, image_server, path: str) -> None:
    image = {"type": "image_url", "image_url": {"url": image_server.url + path}}
    before = len(mock.received)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, messages=user({"type": "text", "text": "describe"}, image))
    error = caught.value.body
    assert error["param"] == "messages[0].content[1].image_url.url"
    assert error["code"] == "invalid_image_url" and len(mock.received) == before


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://localhost:{port}/cat.png",
        "http://[::1]:{port}/cat.png",
        "http://10.0.0.1/cat.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/cat.png",
        "http://[::ffff:127.0.0.1]:{port}/cat.png",
        "http://127.0.0.1:{port}/redirect?to=http://10.0.0.1/",
        "file:///etc/passwd",
    ],
)
def test_ssrf_guard_refuses_private_urls(guarded_relay, mock, image_server, url: str) -> None:
    url = url.format(port=image_server.port)
    hits, received = len(image_server.hits), len(mock.received)
    with openai.OpenAI(base_url=guarded_relay[0].base_url, api_key=guarded_relay[1]) as client:
        image = {"type": "image_url", "image_url": {"url": url}}
        with pytest.raises(openai.BadRequestError) as caught:
            ask(client, messages=user({"type": "text", "text": "look"}, image))
    assert caught.value.body["param"] == "messages[0].content[1].image_url.url"
    assert caught.value.body["code"] == "invalid_image_url"
    assert len(image_server.hits) == hits, "the relay connected to the private address"
    assert len(mock.received) == received


# ---- tools ----------------------------------------------------------------------------------


def test_tool_calls_whole(client: openai.OpenAI, mock: MockGemini) -> None:
    completion = ask(client, "mock-tools", "weather and time?", tools=WEATHER_TOOLS)
    assert mock.last().body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parametersJsonSchema": WEATHER_TOOLS[0]["function"]["parameters"],
                },
                {"name": "get_time"},
            ]
        }
    ]
    assert "toolConfig" not in mock.last().body
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Checking."
    weather, clock = choice.message.tool_calls
    assert GENERATED_ID.match(weather.id) and weather.function.name == "get_weather"
    assert orjson.loads(weather.function.arguments) == {"city": "Paris"}
    assert weather.extra_content == {"google": {"thought_signature": CALL_SIGNATURE}}
    assert clock.id == "fc-7" and clock.function.name == "get_time"
    assert orjson.loads(clock.function.arguments) == {"tz": "Europe/Paris", "n": [1, 2]}
    assert getattr(clock, "extra_content", None) is None


def test_streamed_tool_calls_are_whole_deltas_counted_by_index(relay) -> None:
    body = {"model": "mock-tools", "messages": user("go"), "tools": WEATHER_TOOLS}
    frames = raw_stream(relay, body)
    calls = [
        call
        for frame in frames[:-1]
        for call in frame["choices"][0]["delta"].get("tool_calls") or ()
    ]
    assert [(c["index"], c["function"]["name"]) for c in calls] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    assert all(c["type"] == "function" and c["id"] for c in calls)
    assert calls[0]["function"]["arguments"] == '{"city":"Paris"}'
    assert frames[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
    ],
)
def test_tool_choice_becomes_function_calling_config(client, mock, choice, expected) -> None:
    ask(client, tools=WEATHER_TOOLS, tool_choice=choice)
    assert mock.last().body["toolConfig"] == {"functionCallingConfig": expected}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_results_round_trip_with_signatures(client, mock, stream: bool) -> None:
    messages = user("weather and time?")
    first = (accumulate if stream else ask)(
        client, "mock-tools", messages=messages, tools=WEATHER_TOOLS
    )
    assistant = first.choices[0].message.model_dump(exclude_none=True, exclude={"parsed"})
    weather, clock = first.choices[0].message.tool_calls
    messages += [
        assistant,
        {"role": "tool", "tool_call_id": weather.id, "content": "sunny"},
        {"role": "tool", "tool_call_id": clock.id, "content": [{"type": "text", "text": "noon"}]},
    ]
    second = ask(client, "mock-tools", messages=messages, tools=WEATHER_TOOLS)
    assert second.choices[0].message.content == "results: get_weather=sunny; get_time=noon"
    model_turn, results_turn = mock.last().body["contents"][1:]
    assert model_turn == {
        "role": "model",
        "parts": [
            {"text": "Checking."},
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": CALL_SIGNATURE,
            },
            {
                "functionCall": {
                    "name": "get_time",
                    "args": {"tz": "Europe/Paris", "n": [1, 2]},
                    "id": "fc-7",
                }
            },
        ],
    }
    assert results_turn == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}},
            {
                "functionResponse": {
                    "name": "get_time",
                    "response": {"content": "noon"},
                    "id": "fc-7",
                }
            },
        ],
    }


def test_tool_result_for_an_unknown_call_is_refused(client: openai.OpenAI) -> None:
    messages = [*user("hi"), {"role": "tool", "tool_call_id": "call_nope", "content": "x"}]
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, messages=messages)
    assert caught.value.body["param"] == "messages[1].tool_call_id"


# ---- JSON mode, parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    "response_format, expected",
    [
        ({"type": "json_object"}, {"responseMimeType": "application/json"}),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
            },
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        ),
    ],
)
def test_json_mode(client, mock, response_format, expected) -> None:
    completion = ask(client, "mock-json", response_format=response_format)
    assert orjson.loads(completion.choices[0].message.content) == {"answer": 42}
    assert mock.last().body["generationConfig"] == expected


def test_n_logprobs_and_default_max_tokens(client: openai.OpenAI, mock: MockGemini) -> None:
    completion = ask(client, text="a b c", n=2, logprobs=True, top_logprobs=2)
    config = mock.last().body["generationConfig"]
    assert config == {"candidateCount": 2, "responseLogprobs": True, "logprobs": 2}
    assert [c.message.content for c in completion.choices] == ["echo: a b c"] * 2
    assert [c.index for c in completion.choices] == [0, 1]
    tokens = completion.choices[0].logprobs.content
    assert [t.token for t in tokens] == ["echo:", "a", "b", "c"]
    assert tokens[0].logprob == -0.5 and tokens[0].top_logprobs[1].token == "x"
    capped = ask(client, "gemini-capped", "one two three four")
    assert mock.last().body["generationConfig"] == {"maxOutputTokens": 3}
    assert capped.choices[0].finish_reason == "length"
    assert capped.choices[0].message.content == "echo: one two"


@pytest.mark.parametrize(
    "param, value",
    [
        ("logit_bias", {"50256": -100}),
        ("parallel_tool_calls", False),
        ("functions", [{"name": "f"}]),
        ("modalities", ["text", "audio"]),
        ("tools", [{"type": "custom", "custom": {"name": "grep"}}]),
    ],
)
def test_unsupported_parameters(client, mock, param: str, value: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, extra_body={param: value})
    assert caught.value.body["code"] == "unsupported_parameter"
    assert caught.value.body["param"] == ("tools[0].type" if param == "tools" else param)
    completion = ask(client, "gemini-lenient", "dropped", extra_body={param: value})
    assert completion.choices[0].message.content == "echo: dropped"
    assert set(mock.last().body) == {"contents"}
