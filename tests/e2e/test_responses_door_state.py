"""Upstream state round-tripped through the relay's own `encrypted_content`, and `namespace`
tools, through the Responses door to a DeepSeek-style Chat upstream (`deep-tools`: thinking
with tools, and a 400 for a tool-call turn sent back without its `reasoning_content`), with
the openai SDK and raw streams as Codex reads them (history from `output_item.done` alone)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
import pytest

from tests.mocks.openai_thinking_tools import CALL_ID, THOUGHT
from tests.mocks.openai_upstream import MockOpenAI

MODEL = "deep-tools"
TOOL = {
    "type": "function",
    "name": "read_file",
    "description": "Read a file.",
    "parameters": {"type": "object", "properties": {}},
    "strict": False,
}
QUESTION = {"type": "message", "role": "user", "content": "read it"}
CODEX = {
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "reasoning": {"effort": "high"},
}


def done_items(http: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of a streamed response's `response.output_item.done` frames, in order."""
    items = []
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                if data["type"] == "response.output_item.done":
                    items.append(data["item"])
    return items


def output_of(call: dict[str, Any], text: str = "42") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call["call_id"], "output": text}


def sent_turn(mock: MockOpenAI) -> dict[str, Any]:
    """The assistant tool-call message the upstream got last."""
    [turn] = [m for m in mock.last().body["messages"] if m.get("tool_calls")]
    return turn


def test_a_streamed_tool_call_turn_gets_its_reasoning_back(
    http: httpx.Client, mock_openai: MockOpenAI
) -> None:
    body = {"model": MODEL, "input": [QUESTION], "tools": [TOOL], **CODEX}
    done = done_items(http, body)
    assert [item["type"] for item in done] == ["reasoning", "function_call", "reasoning"]
    assert done[0]["summary"][0]["text"] == THOUGHT
    state = done[-1]
    assert state["summary"] == [] and state["encrypted_content"].startswith("llmrelay.1.")
    turn = {**body, "input": [QUESTION, *done, output_of(done[1])]}
    answer = http.post("/v1/responses", json=turn)
    assert answer.status_code == 200, answer.text
    assert answer.json()["output"][-1]["content"][0]["text"] == "results: 42"
    sent = sent_turn(mock_openai)
    assert sent["reasoning_content"] == THOUGHT
    assert [call["id"] for call in sent["tool_calls"]] == [CALL_ID]


def test_without_its_reasoning_item_the_upstream_refuses_the_turn(
    http: httpx.Client, mock_openai: MockOpenAI
) -> None:
    """The control: what the state item carries is what the upstream insists on."""
    body = {"model": MODEL, "input": [QUESTION], "tools": [TOOL], **CODEX}
    done = [item for item in done_items(http, body) if item["type"] != "reasoning"]
    refused = http.post(
        "/v1/responses", json={**body, "input": [QUESTION, *done, output_of(done[0])]}
    )
    assert refused.status_code == 400
    assert "reasoning_content" in refused.json()["error"]["message"]
    assert "reasoning_content" not in sent_turn(mock_openai)


def forged(token: str) -> list[str]:
    """The token with its state changed (its seal kept), without its seal, and with another
    relay's seal."""
    data, _, mac = token.removeprefix("llmrelay.1.").rpartition(".")
    payload = json.loads(base64.urlsafe_b64decode(data))
    payload["reasoning_content"] = "FORGED"
    changed = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    return [
        f"llmrelay.1.{changed}.{mac}",
        f"llmrelay.1.{changed}",
        f"llmrelay.1.{changed}.{'A' * len(mac)}",
    ]


def test_an_altered_or_forged_state_item_is_ignored(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    asked = client.responses.create(model=MODEL, input=[QUESTION], tools=[TOOL], **CODEX)
    items = [item.model_dump(exclude_none=True) for item in asked.output]
    assert [item["type"] for item in items] == ["reasoning", "function_call", "reasoning"]
    call, state = items[1], items[-1]
    for token in forged(state["encrypted_content"]):
        replay = [QUESTION, *items[:-1], {**state, "encrypted_content": token}, output_of(call)]
        with pytest.raises(openai.BadRequestError):
            client.responses.create(model=MODEL, input=replay, tools=[TOOL], **CODEX)
        assert "reasoning_content" not in sent_turn(mock_openai)
    answer = client.responses.create(
        model=MODEL, input=[QUESTION, *items, output_of(call)], tools=[TOOL], **CODEX
    )
    assert answer.output_text == "results: 42"
    assert sent_turn(mock_openai)["reasoning_content"] == THOUGHT


def test_the_state_item_comes_only_when_included_or_stored(client: openai.OpenAI) -> None:
    plain = client.responses.create(model=MODEL, input="read it", tools=[TOOL], store=False)
    assert [item.type for item in plain.output] == ["reasoning", "function_call"]
    assert plain.output[0].encrypted_content is None


def test_a_stored_response_continues_with_its_state(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    """`store` (the default) without `include`: the client does not see the state item, but
    `previous_response_id` continues with it, and `retrieve` shows it when asked to."""
    first = client.responses.create(model=MODEL, input="read it", tools=[TOOL])
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    call = first.output[1].model_dump()
    second = client.responses.create(
        model=MODEL, input=[output_of(call)], tools=[TOOL], previous_response_id=first.id
    )
    assert second.output_text == "results: 42"
    assert sent_turn(mock_openai)["reasoning_content"] == THOUGHT
    assert [i.type for i in client.responses.retrieve(first.id).output] == [
        "reasoning",
        "function_call",
    ]
    shown = client.responses.retrieve(first.id, include=["reasoning.encrypted_content"])
    assert shown.output[-1].encrypted_content.startswith("llmrelay.1.")


@pytest.mark.parametrize(
    ("namespace", "chat_name"),
    [("mcp__files", "mcp__files__read_file"), ("mcp__files__", "mcp__files__read_file")],
)
def test_a_namespace_tool_is_called_back_with_its_namespace(
    http: httpx.Client, mock_openai: MockOpenAI, namespace: str, chat_name: str
) -> None:
    """Codex sends an MCP server's tools as a `namespace` group and finds the tool a call
    names by its `namespace` and `name` fields."""
    group = {"type": "namespace", "name": namespace, "description": "Files.", "tools": [TOOL]}
    body = {"model": MODEL, "input": [QUESTION], "tools": [group], **CODEX}
    done = done_items(http, body)
    assert [t["function"]["name"] for t in mock_openai.last().body["tools"]] == [chat_name]
    [call] = [item for item in done if item["type"] == "function_call"]
    assert (call["name"], call["namespace"], call["call_id"]) == ("read_file", namespace, CALL_ID)
    whole = http.post("/v1/responses", json=body).json()
    [whole_call] = [item for item in whole["output"] if item["type"] == "function_call"]
    assert (whole_call["name"], whole_call["namespace"]) == ("read_file", namespace)
    answer = http.post("/v1/responses", json={**body, "input": [QUESTION, *done, output_of(call)]})
    assert answer.status_code == 200, answer.text
    assert [c["function"]["name"] for c in sent_turn(mock_openai)["tool_calls"]] == [chat_name]
