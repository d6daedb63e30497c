"""A chat request for a model OpenAI serves on the Responses API only (`api: responses`):
the relay calls `{base_url}/responses` with a Responses body and answers in Chat's shape,
whole and streamed, tool calls, reasoning, usage and errors included."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest

from llmrelay.config import ConfigError, parse_settings
from tests.conftest import RunningRelay, start_relay, stop_relay
from tests.mocks.agent_upstream import plain_answer, tool_answer
from tests.mocks.responses_only_upstream import (
    CACHED_TOKENS,
    REASONING_TOKENS,
    SUMMARY,
    MockResponsesOnly,
)

UPSTREAM_KEY = "sk-upstream-responses-only-0123456789"
SHELL_TOOL = {
    "type": "function",
    "function": {
        "name": "shell_command",
        "description": "Run a shell command.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockResponsesOnly]:
    mock = MockResponsesOnly()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def relay(upstream: MockResponsesOnly, tmp_path_factory: pytest.TempPathFactory):
    config = {
        "providers": {
            "openai": {"type": "openai", "base_url": upstream.url + "/v1", "api_key": UPSTREAM_KEY}
        },
        "models": {
            "gpt-pro": {"provider": "openai", "upstream_model": "gpt-5-pro", "api": "responses"}
        },
    }
    running = start_relay(config, tmp_path_factory.mktemp("relay"))
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def client(relay: RunningRelay) -> Iterator[openai.OpenAI]:
    key = relay.create_key("pro")
    with openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0) as sdk:
        yield sdk


@pytest.fixture(autouse=True)
def fresh_recording(upstream: MockResponsesOnly) -> None:
    upstream.received.clear()


def sent(upstream: MockResponsesOnly) -> dict:
    assert [r.path for r in upstream.received] == ["/v1/responses"]
    return upstream.received[-1].body


def test_a_whole_answer_comes_from_the_responses_api(
    client: openai.OpenAI, upstream: MockResponsesOnly
) -> None:
    answer = client.chat.completions.create(
        model="gpt-pro",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        max_completion_tokens=300,
    )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == plain_answer("hello there")
    assert answer.choices[0].finish_reason == "stop"
    body = sent(upstream)
    assert body["model"] == "gpt-5-pro" and body["instructions"] == "Be brief."
    assert body["input"] == [{"type": "message", "role": "user", "content": "hello there"}]
    assert body["max_output_tokens"] == 300 and body["store"] is False
    assert "messages" not in body and "stream" not in body
    assert upstream.received[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_a_streamed_answer_is_translated_into_chunks(
    client: openai.OpenAI, upstream: MockResponsesOnly
) -> None:
    stream = client.chat.completions.create(
        model="gpt-pro",
        messages=[{"role": "user", "content": "stream this please"}],
        max_tokens=200,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain_answer("stream this please")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    body = sent(upstream)
    assert body["stream"] is True and body["max_output_tokens"] == 200
    assert body["input"][0]["content"] == "stream this please"


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_a_tool_call_round_trip(
    client: openai.OpenAI, upstream: MockResponsesOnly, streamed: bool
) -> None:
    messages: list = [{"role": "user", "content": "Please run `echo hi` for me"}]
    first = ask(client, messages, streamed)
    [call] = first["tool_calls"]
    assert first["finish_reason"] == "tool_calls"
    assert call["function"]["name"] == "shell_command"
    assert json.loads(call["function"]["arguments"]) == {"command": "echo hi"}
    tools = sent(upstream)["tools"]
    assert tools == [{**SHELL_TOOL["function"], "type": "function", "strict": False}]

    upstream.received.clear()
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "hi"},
    ]
    second = ask(client, messages, streamed)
    assert second["content"] == tool_answer("hi") and second["finish_reason"] == "stop"
    items = sent(upstream)["input"]
    assert items[1:] == [
        {
            "type": "function_call",
            "call_id": call["id"],
            "name": "shell_command",
            "arguments": call["function"]["arguments"],
        },
        {"type": "function_call_output", "call_id": call["id"], "output": "hi"},
    ]


def ask(client: openai.OpenAI, messages: list, streamed: bool) -> dict:
    """The answer's content, tool calls and finish reason, whole or gathered from chunks."""
    if not streamed:
        answer = client.chat.completions.create(
            model="gpt-pro", messages=messages, tools=[SHELL_TOOL]
        )
        message = answer.choices[0].message
        calls = [c.model_dump() for c in message.tool_calls or []]
        return {
            "content": message.content,
            "tool_calls": calls,
            "finish_reason": answer.choices[0].finish_reason,
        }
    content, calls, finish = "", {}, None
    stream = client.chat.completions.create(
        model="gpt-pro", messages=messages, tools=[SHELL_TOOL], stream=True
    )
    for chunk in stream:
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for part in delta.tool_calls or []:
            call = calls.setdefault(part.index, {"id": None, "type": "function", "function": {}})
            call["id"] = call["id"] or part.id
            function = call["function"]
            function["name"] = function.get("name") or part.function.name
            function["arguments"] = function.get("arguments", "") + (part.function.arguments or "")
        finish = chunk.choices[0].finish_reason or finish
    return {"content": content, "tool_calls": list(calls.values()), "finish_reason": finish}


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_reasoning_and_usage_reach_the_client_and_the_ledger(
    client: openai.OpenAI, relay: RunningRelay, streamed: bool
) -> None:
    request = {
        "model": "gpt-pro",
        "messages": [{"role": "user", "content": "think: what is two plus two"}],
        "reasoning_effort": "high",
    }
    if streamed:
        request |= {"stream": True, "stream_options": {"include_usage": True}}
    raw = client.chat.completions.with_raw_response.create(**request)
    if streamed:
        chunks = list(raw.parse())
        reasoning = "".join(
            getattr(c.choices[0].delta, "reasoning_content", None) or ""
            for c in chunks
            if c.choices
        )
        usage = chunks[-1].usage
    else:
        answer = raw.parse()
        reasoning = answer.choices[0].message.reasoning_content  # type: ignore[attr-defined]
        usage = answer.usage
        assert answer.choices[0].message.content == plain_answer("think: what is two plus two")
    assert reasoning == SUMMARY
    assert usage.prompt_tokens_details.cached_tokens == CACHED_TOKENS
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    row = relay.ledger_row(raw.headers["x-request-id"])
    assert row["prompt_tokens"] == usage.prompt_tokens
    assert row["completion_tokens"] == usage.completion_tokens
    assert row["cached_tokens"] == CACHED_TOKENS
    assert row["reasoning_tokens"] == REASONING_TOKENS
    assert row["upstream_model"] == "gpt-5-pro" and row["status"] == 200


def test_reasoning_effort_goes_as_reasoning_effort(
    client: openai.OpenAI, upstream: MockResponsesOnly
) -> None:
    client.chat.completions.create(
        model="gpt-pro",
        messages=[{"role": "user", "content": "answer in JSON"}],
        reasoning_effort="low",
        response_format={"type": "json_object"},
    )
    body = sent(upstream)
    assert body["reasoning"] == {"effort": "low"}
    assert body["text"] == {"format": {"type": "json_object"}}
    assert "reasoning_effort" not in body and "response_format" not in body


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_an_incomplete_response_finishes_with_length(client: openai.OpenAI, streamed: bool) -> None:
    answer = ask(client, [{"role": "user", "content": "cut: a long story"}], streamed)
    assert answer["content"] == plain_answer("cut: a long story")
    assert answer["finish_reason"] == "length"


def test_the_other_doors_reach_the_model_too(
    relay: RunningRelay, client: openai.OpenAI, upstream: MockResponsesOnly
) -> None:
    """The Responses door passes its request through to this model (its provider speaks the
    Responses API for it); the Messages door translates into the relay's Chat request, which
    the provider sends on to the Responses API."""
    answer = client.responses.create(
        model="gpt-pro", input="via the responses door", metadata={"kept": "as sent"}
    )
    assert answer.output_text == plain_answer("via the responses door")
    assert upstream.received[-1].body["metadata"] == {"kept": "as sent"}
    assert upstream.received[-1].body["input"] == "via the responses door"  # untranslated
    with anthropic.Anthropic(base_url=relay.url, api_key=client.api_key, max_retries=0) as claude:
        message = claude.messages.create(
            model="gpt-pro",
            max_tokens=100,
            messages=[{"role": "user", "content": "via the messages door"}],
        )
    assert message.content[0].text == plain_answer("via the messages door")  # type: ignore[union-attr]
    assert [r.path for r in upstream.received] == ["/v1/responses"] * 2
    assert upstream.received[-1].body["max_output_tokens"] == 100


def test_history_and_images_become_input_items(
    client: openai.OpenAI, upstream: MockResponsesOnly
) -> None:
    image = "https://example.com/cat.png"
    client.chat.completions.create(
        model="gpt-pro",
        messages=[
            {"role": "developer", "content": "Rule one."},
            {"role": "system", "content": [{"type": "text", "text": "Rule two."}]},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "an earlier answer"},
            {"role": "system", "content": "A later rule."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
                ],
            },
        ],
    )
    body = sent(upstream)
    assert body["instructions"] == "Rule one.\n\nRule two."
    assert body["input"] == [
        {"type": "message", "role": "user", "content": "first"},
        {"type": "message", "role": "assistant", "content": "an earlier answer"},
        {"type": "message", "role": "developer", "content": "A later rule."},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this"},
                {"type": "input_image", "image_url": image, "detail": "low"},
            ],
        },
    ]


def test_upstream_errors_are_mapped_as_for_chat(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "fail: now"}]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-pro", messages=messages)
    assert "the mock refuses this prompt" in refused.value.message
    with pytest.raises(openai.APIError) as failed:
        list(client.chat.completions.create(model="gpt-pro", messages=messages, stream=True))
    assert "The mock model failed to answer." in str(failed.value)


def test_a_parameter_the_responses_api_lacks_is_a_400_naming_it(
    client: openai.OpenAI, upstream: MockResponsesOnly
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-pro", messages=[{"role": "user", "content": "hi"}], seed=7
        )
    assert refused.value.status_code == 400 and refused.value.param == "seed"
    assert upstream.received == []


def test_api_responses_needs_an_openai_provider() -> None:
    document = {
        "providers": {"claude": {"type": "anthropic", "api_key": "x"}},
        "models": {"opus": {"provider": "claude", "api": "responses"}},
    }
    with pytest.raises(ConfigError, match=r"\$\.models\.opus\.api: .*'claude'.*'anthropic'"):
        parse_settings(document)
    document["models"]["opus"]["api"] = "chat"
    assert parse_settings(document).models["opus"].api == "chat"
