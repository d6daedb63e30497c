"""The Responses door against every upstream kind it translates to: the Anthropic mock, the
Gemini mock and the embedded local model (the OpenAI mock is test_responses_door.py), with
the openai SDK whole and streamed; and a key's budget refusal in the door's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.mocks.anthropic_upstream import ANTHROPIC_KEY, SIGNATURE, MockAnthropic
from tests.mocks.gemini_upstream import CALL_SIGNATURE, GEMINI_KEY, MockGemini

FAST = {"connect": 2, "first_token": 5, "idle": 5, "total": 20}
LOCAL = "smollm2-135m-instruct"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
NOW = {"type": "function", "name": "now", "parameters": {"type": "object", "properties": {}}}
GET_TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}


@pytest.fixture(scope="module")
def anthropic_mock() -> Iterator[MockAnthropic]:
    server = MockAnthropic()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gemini_mock() -> Iterator[MockGemini]:
    server = MockGemini()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mixed_relay(
    anthropic_mock: MockAnthropic, gemini_mock: MockGemini, tmp_path_factory
) -> Iterator[RunningRelay]:
    anthropic = {"type": "anthropic", "base_url": anthropic_mock.base_url}
    anthropic |= {"api_key": ANTHROPIC_KEY, "timeouts": FAST}
    gemini = {"type": "gemini", "base_url": gemini_mock.base_url, "api_key": GEMINI_KEY}
    gemini |= {"timeouts": FAST}
    models = {
        "claude-sonnet-4-6": {"provider": "anthropic", "reasoning": True},
        "claude-tools": {"provider": "anthropic", "upstream_model": "mock-tools"},
        "claude-think-tools": {
            "provider": "anthropic",
            "upstream_model": "mock-tools",
            "reasoning": True,
        },
        "gemini-2.5-pro": {"provider": "gemini", "reasoning": True},
        "gemini-tools": {"provider": "gemini", "upstream_model": "mock-tools"},
        LOCAL: {"provider": "local"},
    }
    models["claude-priced"] = {"provider": "anthropic", "upstream_model": "claude-sonnet-4-6"}
    models["claude-priced"]["price"] = {"input": 1000.0, "output": 1000.0}
    providers = {"anthropic": anthropic, "gemini": gemini, "local": {"type": "local"}}
    config = {"providers": providers, "models": models}
    running = start_relay(
        config, tmp_path_factory.mktemp("responses-mixed"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def mixed(mixed_relay: RunningRelay) -> Iterator[openai.OpenAI]:
    key = mixed_relay.create_key("responses-mixed")
    with openai.OpenAI(base_url=mixed_relay.base_url, api_key=key, max_retries=0) as c:
        yield c


def both(client: openai.OpenAI, **request: Any) -> tuple[Any, Any]:
    """The whole answer and the streamed one's final response."""
    whole = client.responses.create(**request)
    with client.responses.stream(**request) as stream:
        streamed = stream.get_final_response()
    return whole, streamed


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gemini-2.5-pro"])
def test_vendor_answers_whole_and_streamed(mixed: openai.OpenAI, model: str) -> None:
    whole, streamed = both(mixed, model=model, input="hello vendor", instructions="Be brief.")
    assert whole.output_text == streamed.output_text == "echo: hello vendor"
    for response in (whole, streamed):
        assert (response.status, response.model) == ("completed", model)
        assert response.usage.input_tokens > 0
        assert response.usage.total_tokens == response.usage.input_tokens + (
            response.usage.output_tokens
        )


def test_anthropic_upstream_gets_the_system_and_the_turns(
    mixed: openai.OpenAI, anthropic_mock: MockAnthropic
) -> None:
    items = [
        {"role": "developer", "content": "Rules."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"role": "user", "content": "second"},
    ]
    response = mixed.responses.create(
        model="claude-sonnet-4-6", input=items, instructions="Top.", max_output_tokens=200
    )
    assert response.output_text == "echo: second"
    sent = anthropic_mock.last().body
    assert [block["text"] for block in sent["system"]] == ["Top.", "Rules."]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["max_tokens"] == 200


@pytest.mark.parametrize(
    ("model", "tools", "calls"),
    [
        (
            "claude-tools",
            [WEATHER, NOW],
            [("toolu_01A", "get_weather", {"city": "Paris", "days": 3}), ("toolu_01B", "now", {})],
        ),
        (
            "gemini-tools",
            [WEATHER, GET_TIME],
            [
                (None, "get_weather", {"city": "Paris"}),
                ("fc-7", "get_time", {"tz": "Europe/Paris", "n": [1, 2]}),
            ],
        ),
    ],
)
def test_vendor_tool_calls_are_function_call_items(
    mixed: openai.OpenAI, model: str, tools: list, calls: list
) -> None:
    whole, streamed = both(mixed, model=model, input="check", tools=tools)
    for response in (whole, streamed):
        found = [i for i in response.output if i.type == "function_call"]
        assert [(c.name, json.loads(c.arguments)) for c in found] == [
            (name, args) for _, name, args in calls
        ]
        for call, (call_id, _, _) in zip(found, calls, strict=True):
            assert call.id.startswith("fc_")
            assert call.call_id if call_id is None else call.call_id == call_id
        assert response.output_text in ("Let me check.", "Checking.")


def test_vendor_stream_closes_each_item_before_the_next(mixed_relay: RunningRelay) -> None:
    key = mixed_relay.create_key("responses-mixed-raw")
    body = {"model": "claude-tools", "input": "check", "tools": [WEATHER, NOW], "stream": True}
    headers = {"authorization": f"Bearer {key}"}
    names, open_items = [], set()
    with httpx.stream("POST", mixed_relay.url + "/v1/responses", json=body, headers=headers) as r:
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            data = json.loads(line.removeprefix("data: "))
            names.append(data["type"])
            if data["type"] == "response.output_item.added":
                assert not open_items, "an item started before the last one was done"
                open_items.add(data["output_index"])
            if data["type"] == "response.output_item.done":
                open_items.remove(data["output_index"])
    assert names.count("response.output_item.done") == 3
    assert names[-1] == "response.completed"


def test_a_function_call_output_reaches_anthropic_as_a_tool_result(
    mixed: openai.OpenAI, anthropic_mock: MockAnthropic
) -> None:
    items = [
        {"role": "user", "content": "check"},
        {"type": "function_call", "call_id": "toolu_01A", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "toolu_01A", "output": "sunny"},
    ]
    response = mixed.responses.create(model="claude-tools", input=items, tools=[WEATHER])
    assert response.output_text == "results: sunny"
    [result] = anthropic_mock.last().body["messages"][-1]["content"]
    assert (result["type"], result["tool_use_id"]) == ("tool_result", "toolu_01A")


def test_reasoning_from_a_vendor_is_a_reasoning_item(mixed: openai.OpenAI) -> None:
    whole, streamed = both(
        mixed, model="gemini-2.5-pro", input="think", reasoning={"effort": "low"}
    )
    for response in (whole, streamed):
        kinds = [item.type for item in response.output]
        assert kinds == ["reasoning", "message"]
        assert response.output[0].summary[0].text == "The user said: think"


def test_local_model_answers_whole_and_streamed(mixed: openai.OpenAI) -> None:
    """A cut answer ends the stream with `response.incomplete`, as OpenAI's does (the SDK's
    `get_final_response` wants `completed`, so the terminal event is read here)."""
    request = {"model": LOCAL, "input": "Say hello.", "max_output_tokens": 16, "temperature": 0}
    whole = mixed.responses.create(**request)
    with mixed.responses.stream(**request) as stream:
        terminal = [e for e in stream if e.type in ("response.completed", "response.incomplete")]
    [last] = terminal
    streamed = last.response
    assert last.type == f"response.{whole.status}"
    for response in (whole, streamed):
        assert response.output_text.strip()
        assert 0 < response.usage.output_tokens <= 16
        if response.status == "incomplete":
            assert response.incomplete_details.reason == "max_output_tokens"


def test_a_spent_budget_is_refused_in_the_doors_shape(mixed_relay: RunningRelay) -> None:
    created = httpx.post(
        mixed_relay.url + "/admin/keys",
        json={"name": "responses-broke", "budget_usd": 0.0001},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    client = openai.OpenAI(base_url=mixed_relay.base_url, api_key=key, max_retries=0)
    with client, pytest.raises(openai.RateLimitError) as refused:
        client.responses.create(model="claude-priced", input="hi")
    assert refused.value.code == "insufficient_quota"
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert refused.value.response.json()["error"]["message"]


CAPTURED_CODEX = Path(__file__).parents[1] / "clients" / "captured" / "codex.json"


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gemini-2.5-pro"])
def test_what_codex_really_sends_reaches_every_vendor(
    mixed_relay: RunningRelay, model: str
) -> None:
    """Codex's captured first request, as it sent it (developer messages, its function,
    namespace and web_search tools, store false, include, client_metadata...), but for the
    model: the stream completes, with the answer in a complete message item."""
    body = json.loads(CAPTURED_CODEX.read_text())["first_request"]["body"] | {"model": model}
    key = mixed_relay.create_key(f"codex-{model}")
    headers = {"authorization": f"Bearer {key}"}
    frames = []
    with httpx.stream(
        "POST", mixed_relay.url + "/v1/responses", json=body, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                frames.append(json.loads(line.removeprefix("data: ")))
    assert frames[-1]["type"] == "response.completed", frames[-1]
    [message] = [f["item"] for f in frames if f["type"] == "response.output_item.done"]
    assert message["content"][0]["text"].startswith("echo: ")
    assert frames[-1]["response"]["usage"]["total_tokens"] > 0


def state_turn(relay: RunningRelay, body: dict[str, Any], stream: bool) -> list[dict[str, Any]]:
    """Ask, then answer every call: the output items (from `response.output_item.done` when
    streamed, as Codex keeps them) go back as they came."""
    key = relay.create_key(f"state-{body['model']}-{stream}")
    headers = {"authorization": f"Bearer {key}"}
    question = {"role": "user", "content": "check"}
    url = relay.url + "/v1/responses"
    if stream:
        items = []
        with httpx.stream(
            "POST",
            url,
            json={**body, "input": [question], "stream": True},
            headers=headers,
            timeout=30,
        ) as response:
            for line in response.iter_lines():
                data = json.loads(line.removeprefix("data: ")) if line.startswith("data: ") else {}
                if data.get("type") == "response.output_item.done":
                    items.append(data["item"])
    else:
        answer = httpx.post(url, json={**body, "input": [question]}, headers=headers, timeout=30)
        items = answer.json()["output"]
    outputs = [
        {"type": "function_call_output", "call_id": item["call_id"], "output": "sunny"}
        for item in items
        if item["type"] == "function_call"
    ]
    replay = {**body, "input": [question, *items, *outputs]}
    answer = httpx.post(url, json=replay, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return items


STATE = {"store": False, "include": ["reasoning.encrypted_content"]}


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_thinking_blocks_come_back_signed(
    mixed_relay: RunningRelay, anthropic_mock: MockAnthropic, stream: bool
) -> None:
    """Anthropic wants the thinking block, signed, first in a tool-use turn while thinking:
    it travels in the relay's own `encrypted_content`."""
    body = {"model": "claude-think-tools", "tools": [WEATHER, NOW], "reasoning": {"effort": "low"}}
    items = state_turn(mixed_relay, body | STATE, stream)
    assert items[-1]["type"] == "reasoning" and items[-1]["encrypted_content"]
    sent = anthropic_mock.last().body
    assert sent["thinking"]["type"] == "enabled"
    turn = sent["messages"][-2]
    thinking = {"type": "thinking", "thinking": "The user wrote: check", "signature": SIGNATURE}
    assert turn["content"][0] == thinking


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_signatures_come_back_on_their_calls(
    mixed_relay: RunningRelay, gemini_mock: MockGemini, stream: bool
) -> None:
    state_turn(mixed_relay, {"model": "gemini-tools", "tools": [WEATHER, GET_TIME]} | STATE, stream)
    contents = gemini_mock.last().body["contents"]
    calls = [p for p in contents[-2]["parts"] if "functionCall" in p]
    signed = {p["functionCall"]["name"]: p.get("thoughtSignature") for p in calls}
    assert signed == {"get_weather": CALL_SIGNATURE, "get_time": None}
