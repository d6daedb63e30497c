"""The OpenAI Responses door (`POST /v1/responses`) through a translated OpenAI Chat upstream:
the openai SDK's `responses.create` and `responses.stream` against a real relay, what the
upstream receives, the event stream's order, and the door's own 400s."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import RunningRelay
from tests.mocks.openai_upstream import MockOpenAI

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}


def events(http: httpx.Client, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, data) frames of a streamed response, as sent."""
    frames = []
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                frames.append((name, json.loads(line.removeprefix("data: "))))
    return frames


def test_create_answers_through_a_chat_upstream(
    client: openai.OpenAI, mock_openai: MockOpenAI, relay: RunningRelay
) -> None:
    raw = client.responses.with_raw_response.create(
        model="gpt-5", input="hello there", instructions="Be brief.", max_output_tokens=100
    )
    response = raw.parse()
    assert response.id.startswith("resp_")
    assert (response.object, response.status, response.model) == ("response", "completed", "gpt-5")
    assert response.output_text == "echo: hello there"
    [message] = response.output
    assert (message.type, message.role, message.status) == ("message", "assistant", "completed")
    assert message.id.startswith("msg_")
    assert response.instructions == "Be brief."
    usage = response.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens > 0
    assert usage.output_tokens == 3
    sent = mock_openai.last().body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
    ]
    assert sent["max_completion_tokens"] == 100
    row = relay.ledger_row(raw.headers["x-request-id"])
    assert (row["endpoint"], row["model"], row["completion_tokens"]) == ("responses", "gpt-5", 3)


def test_stream_sends_the_full_event_sequence(http: httpx.Client) -> None:
    frames = events(http, {"model": "gpt-5", "input": "one two"})
    names = [name for name, _ in frames]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * names.count("response.output_text.delta"),
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in frames] == list(range(len(frames)))
    assert all(data["type"] == name for name, data in frames)
    assert frames[0][1]["response"]["status"] == "in_progress"
    deltas = "".join(d["delta"] for n, d in frames if n == "response.output_text.delta")
    assert deltas == "echo: one two"
    done = frames[-2][1]["item"]
    assert done["content"][0]["text"] == "echo: one two"
    completed = frames[-1][1]["response"]
    assert completed["output"] == [done]
    assert completed["usage"]["total_tokens"] > 0
    assert completed["id"] == frames[0][1]["response"]["id"]


def test_sdk_stream_matches_the_whole_answer(client: openai.OpenAI) -> None:
    request = {"model": "gpt-5", "input": [{"role": "user", "content": "same words"}]}
    with client.responses.stream(**request) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        streamed = stream.get_final_response()
    whole = client.responses.create(**request)
    assert "".join(deltas) == streamed.output_text == whole.output_text == "echo: same words"
    assert streamed.usage.model_dump() == whole.usage.model_dump()


def test_input_items_become_chat_messages(client: openai.OpenAI, mock_openai: MockOpenAI) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    items = [
        {"role": "developer", "content": "Rules."},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look:"},
                {"type": "input_image", "image_url": image, "detail": "low"},
            ],
        },
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking."}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": "rainy"},
        {"role": "user", "content": "and now?"},
    ]
    client.responses.create(model="gpt-5", input=items, tools=[WEATHER_TOOL])
    sent = mock_openai.last().body
    calls = [
        {
            "id": f"call_{n}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"},
        }
        for n in (1, 2)
    ]
    assert sent["messages"] == [
        {"role": "system", "content": "Rules."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            ],
        },
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rainy"},
        {"role": "user", "content": "and now?"},
    ]
    function = {k: v for k, v in WEATHER_TOOL.items() if k != "type"}
    assert sent["tools"] == [{"type": "function", "function": function}]


def test_settings_are_translated(client: openai.OpenAI, mock_openai: MockOpenAI) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    response = client.responses.create(
        model="gpt-5",
        input="hi",
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}},
        reasoning={"effort": "low"},
        temperature=0.5,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        metadata={"team": "a"},
    )
    sent = mock_openai.last().body
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }
    assert "reasoning_effort" not in sent  # gpt-5 here is not configured `reasoning: true`
    assert sent["temperature"] == 0.5
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False
    assert "metadata" not in sent
    assert response.metadata == {"team": "a"}
    assert response.text.format.type == "json_schema"
    assert response.reasoning.effort == "low"
    assert response.parallel_tool_calls is False


def test_reasoning_effort_reaches_a_reasoning_model(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    client.responses.create(model="thinker", input="hi", reasoning={"effort": "low"})
    assert mock_openai.last().body["reasoning_effort"] == "low"
    client.responses.create(model="deep", input="hi", reasoning={"effort": "high"})
    sent = mock_openai.last().body  # a DeepSeek-style server, in its own spelling
    assert (sent["thinking"], sent["reasoning_effort"]) == ({"type": "enabled"}, "high")


def test_a_cut_answer_is_incomplete(client: openai.OpenAI, http: httpx.Client) -> None:
    request = {"model": "gpt-5", "input": " ".join(["word"] * 30), "max_output_tokens": 16}
    whole = client.responses.create(**request)
    assert whole.status == "incomplete"
    assert whole.incomplete_details.reason == "max_output_tokens"
    frames = events(http, request)
    assert frames[-1][0] == "response.incomplete"
    assert frames[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_function_calls_come_back_as_items(client: openai.OpenAI, http: httpx.Client) -> None:
    request = {"model": "tools-model", "input": "weather?", "tools": [WEATHER_TOOL]}
    whole = client.responses.create(**request)
    [call] = whole.output
    assert (call.type, call.call_id, call.name) == ("function_call", "call_abc", "get_weather")
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("fc_")
    frames = events(http, request)
    names = [name for name, _ in frames]
    assert names[2] == "response.output_item.added"
    assert frames[2][1]["item"]["arguments"] == ""
    assert names[-4:] == [
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = "".join(d["delta"] for n, d in frames if n.endswith("arguments.delta"))
    assert json.loads(deltas) == {"city": "Paris"}
    item = frames[-2][1]["item"]
    assert (item["call_id"], item["name"], item["arguments"]) == ("call_abc", "get_weather", deltas)
    assert frames[-1][1]["response"]["output"] == [item]


def test_custom_tools_travel_as_functions(client: openai.OpenAI, mock_openai: MockOpenAI) -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    tool = {"type": "custom", "name": "apply_patch", "description": "Patch.", "format": grammar}
    items = [
        {"type": "custom_tool_call", "call_id": "call_9", "name": "apply_patch", "input": "diff"},
        {"type": "custom_tool_call_output", "call_id": "call_9", "output": "done"},
    ]
    client.responses.create(model="gpt-5", input=items, tools=[tool])
    sent = mock_openai.last().body
    [function] = sent["tools"]
    assert function["function"]["name"] == "apply_patch"
    assert function["function"]["parameters"]["properties"] == {"input": {"type": "string"}}
    assert "start: /.+/" in function["function"]["description"]
    [call] = sent["messages"][0]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"input": "diff"}


def test_what_codex_always_sends_is_accepted(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    """`store: false`, `include`, `prompt_cache_key`, `client_metadata`, the built-in tools a
    chat upstream cannot run (dropped, see docs/responses.md), and a namespace group (its tools
    as `<namespace>__<name>` functions)."""
    namespace = {"type": "namespace", "name": "agents", "tools": [WEATHER_TOOL]}
    response = client.responses.create(
        model="gpt-5",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
        ],
        tools=[WEATHER_TOOL, namespace, {"type": "web_search", "external_web_access": True}],
        tool_choice="auto",
        parallel_tool_calls=True,
        reasoning={"summary": "auto"},
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="conversation-1",
        extra_body={"client_metadata": {"session_id": "s"}},
    )
    assert response.output_text == "echo: x"
    assert response.store is False
    sent = mock_openai.last().body
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "agents__get_weather"]
    assert sent["prompt_cache_key"] == "conversation-1"
    for dropped in ("store", "include", "client_metadata", "reasoning", "reasoning_effort"):
        assert dropped not in sent


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"conversation": "conv_1"}, "conversation"),
        ({"background": True}, "background"),
        ({"max_tool_calls": 2}, "max_tool_calls"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"truncation": "auto"}, "truncation"),
        ({"frobnicate": 1}, "frobnicate"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
        ({"input": 3}, "input"),
        ({"store": "yes"}, "store"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"max_output_tokens": 3}, "max_output_tokens"),
    ],
)
def test_what_cannot_be_translated_is_a_400_naming_the_field(
    http: httpx.Client, extra: dict[str, Any], param: str
) -> None:
    response = http.post("/v1/responses", json={"model": "gpt-5", "input": "hi", **extra})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_missing_input_and_unknown_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as missing:
        client.responses.create(model="gpt-5")  # type: ignore[call-overload]
    assert missing.value.body["param"] == "input"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.responses.create(model="no-such-model", input="hi")
    assert unknown.value.body["code"] == "model_not_found"


def test_reasoning_becomes_a_reasoning_item(client: openai.OpenAI, http: httpx.Client) -> None:
    whole = client.responses.create(model="thinker", input="hi")
    reasoning, message = whole.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "The user greets me; answer kindly."
    assert message.content[0].text == "Hello there!"
    assert whole.usage.output_tokens_details.reasoning_tokens == 6
    frames = events(http, {"model": "thinker", "input": "hi"})
    names = [name for name, _ in frames]
    assert names.index("response.reasoning_summary_text.done") < names.index(
        "response.content_part.added"
    )
    summary = "".join(d["delta"] for n, d in frames if n == "response.reasoning_summary_text.delta")
    assert summary == "The user greets me; answer kindly."
    output = frames[-1][1]["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]


def test_a_late_error_is_response_failed(http: httpx.Client) -> None:
    frames = events(http, {"model": "breaks-midstream", "input": "a b c d e f"})
    name, data = frames[-1]
    assert name == "response.failed"
    assert data["response"]["status"] == "failed"
    assert data["response"]["error"]["message"]
    assert [d["sequence_number"] for _, d in frames] == list(range(len(frames)))


def test_get_on_the_door_path_is_405(http: httpx.Client) -> None:
    response = http.get("/v1/responses")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_a_call_of_a_custom_tool_comes_back_as_a_custom_tool_call(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    """The upstream calls `get_weather`, which the client declared as a custom (free text)
    tool: an argument object without `input` is handed over as the call's text as it is."""
    tool = {"type": "custom", "name": "get_weather", "description": "Weather, as free text."}
    request = {"model": "tools-model", "input": "weather?", "tools": [tool]}
    [call] = client.responses.create(**request).output
    assert (call.type, call.call_id, call.name) == ("custom_tool_call", "call_abc", "get_weather")
    assert json.loads(call.input) == {"city": "Paris"}
    frames = events(http, request)
    names = [name for name, _ in frames]
    assert "response.function_call_arguments.delta" not in names
    added = frames[names.index("response.output_item.added")][1]["item"]
    assert (added["type"], added["input"]) == ("custom_tool_call", "")
    [done_text] = [d["input"] for n, d in frames if n == "response.custom_tool_call_input.done"]
    assert json.loads(done_text) == {"city": "Paris"}
    item = frames[-2][1]["item"]
    assert (item["type"], item["id"], item["input"]) == ("custom_tool_call", added["id"], done_text)
    assert frames[-1][1]["response"]["output"] == [item]
