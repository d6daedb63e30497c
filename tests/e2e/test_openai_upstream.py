"""The official openai SDK, through the relay, against an OpenAI-compatible upstream."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from tests.conftest import RunningRelay
from tests.mocks.openai_upstream import UPSTREAM_KEY, MockOpenAI

SEED_MESSAGE = "你好,请介绍一下你自己"


def test_seed_example_as_raw_http(relay: RunningRelay, api_key: str) -> None:
    """The seed page's curl, byte for byte, gets the documented response shape."""
    response = httpx.post(
        relay.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        content=(
            '{"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "'
            + SEED_MESSAGE
            + '"}]}'
        ).encode(),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "claude-sonnet-4-6"
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == f"echo: {SEED_MESSAGE}"
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_sync_completion_forwards_body_untouched(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    completion = client.chat.completions.create(
        model="gpt-5",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
        temperature=0.2,
        top_p=0.9,
        stop=["\n\n", "END"],
        seed=7,
        presence_penalty=0.5,
        response_format={"type": "json_object"},
        metadata={"team": "search"},
        user="user-42",
        extra_body={"vendor_extension": {"deep": [1, 2.5, None]}, "top_k": 5},
    )
    assert completion.choices[0].message.content == "echo: second question"
    assert completion.model == "gpt-5"
    sent = mock_openai.last()
    assert sent.body["model"] == "mock-echo"
    for field, value in {
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n", "END"],
        "seed": 7,
        "presence_penalty": 0.5,
        "response_format": {"type": "json_object"},
        "metadata": {"team": "search"},
        "user": "user-42",
        "vendor_extension": {"deep": [1, 2.5, None]},
        "top_k": 5,
    }.items():
        assert sent.body[field] == value, field
    assert sent.body["messages"][3]["content"] == [{"type": "text", "text": "second question"}]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.headers["x-relay-test"] == "yes"


def test_streaming_follows_openai_wire_rules(relay: RunningRelay, api_key: str) -> None:
    frames = []
    with httpx.stream(
        "POST",
        relay.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={
            "model": "gpt-5",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "one two three"}],
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), "only data: frames"
    assert lines[-1] == "data: [DONE]"
    frames = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert len({f["id"] for f in frames}) == 1
    assert len({f["created"] for f in frames}) == 1
    assert {f["model"] for f in frames} == {"gpt-5"}
    roles = [f["choices"][0]["delta"].get("role") for f in frames if f["choices"]]
    assert roles[0] == "assistant" and not any(roles[1:])
    *content_frames, usage_frame = frames
    assert all(f["usage"] is None for f in content_frames)
    assert usage_frame["choices"] == []
    assert usage_frame["usage"]["completion_tokens"] == 4
    text = "".join(f["choices"][0]["delta"].get("content") or "" for f in content_frames)
    assert text == "echo: one two three"
    assert content_frames[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_without_include_usage_has_no_usage(
    relay: RunningRelay, api_key: str, mock_openai: MockOpenAI
) -> None:
    with httpx.stream(
        "POST",
        relay.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "gpt-5", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    frames = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert all("usage" not in f and f["choices"] for f in frames)
    # The relay asked the upstream for usage anyway, so its ledger has real counts.
    assert mock_openai.last().body["stream_options"] == {"include_usage": True}


def test_sdk_stream_accumulates(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="qwen3-max", messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == "echo: stream me please"
    message = final.choices[0].message
    assert message.role == "assistant"
    assert message.content == "echo: stream me please"
    assert final.choices[0].finish_reason == "stop"


def test_sdk_stream_tool_calls_accumulate(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    with client.chat.completions.stream(
        model="tools-model",
        tools=tools,
        messages=[{"role": "user", "content": "weather in Paris?"}],
    ) as stream:
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls
    assert call.id == "call_abc"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Paris"}'
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_calls_non_streaming(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="tools-model",
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"


async def test_async_client_whole_and_streamed(async_client: openai.AsyncOpenAI) -> None:
    completion = await async_client.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "async hello"}]
    )
    assert completion.choices[0].message.content == "echo: async hello"
    stream = await async_client.chat.completions.create(
        model="gpt-5",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "async stream"}],
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
    assert "".join(pieces) == "echo: async stream"
    assert usage is not None and usage.completion_tokens == 3
    await async_client.close()


def test_keepalive_pings_while_waiting_for_first_token(
    relay: RunningRelay, api_key: str, client: openai.OpenAI
) -> None:
    with httpx.stream(
        "POST",
        relay.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={
            "model": "slow-start",
            "stream": True,
            "messages": [{"role": "user", "content": "take your time"}],
        },
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data:"))
    assert ": ping" in lines[:first_data]
    # and the SDK ignores them
    chunks = list(
        client.chat.completions.create(
            model="slow-start", stream=True, messages=[{"role": "user", "content": "still fine"}]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: still fine"


@pytest.mark.parametrize("stream", [False, True])
def test_ledger_matches_what_the_client_saw(
    relay: RunningRelay, client: openai.OpenAI, stream: bool
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-5",
        stream=stream,
        messages=[{"role": "user", "content": "count these words"}],
        **({"stream_options": {"include_usage": True}} if stream else {}),
    )
    request_id = raw.headers["x-request-id"]
    parsed = raw.parse()
    usage = [c.usage for c in parsed if c.usage][-1] if stream else parsed.usage
    row = relay.ledger_row(request_id)
    assert row["status"] == 200
    assert row["model"] == "gpt-5"
    assert row["provider"] == "mock"
    assert row["upstream_model"] == "mock-echo"
    assert row["key_name"] == "tests"
    assert bool(row["stream"]) is stream
    assert row["prompt_tokens"] == usage.prompt_tokens
    assert row["completion_tokens"] == usage.completion_tokens
    assert row["total_tokens"] == usage.total_tokens
    assert row["cached_tokens"] == 0 and row["reasoning_tokens"] == 0
    assert row["latency_ms"] > 0 and row["ttft_ms"] is not None
    assert not row["client_disconnected"]


def test_streams_reuse_the_upstream_connection(
    client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    """A stream read to its end hands its connection back to the pool: five streams in a
    row travel over the connection the first one used."""
    before = len(mock_openai.peers)
    for i in range(5):
        chunks = list(
            client.chat.completions.create(
                model="gpt-5", stream=True, messages=[{"role": "user", "content": f"again {i}"}]
            )
        )
        assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(set(mock_openai.peers[before:])) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_without_usage_is_counted_by_the_relay(
    relay: RunningRelay, client: openai.OpenAI, stream: bool
) -> None:
    words = "one two three four five six seven eight"
    raw = client.chat.completions.with_raw_response.create(
        model="quiet",
        stream=stream,
        messages=[{"role": "user", "content": words}],
        **({"stream_options": {"include_usage": True}} if stream else {}),
    )
    parsed = raw.parse()
    usage = [c.usage for c in parsed if c.usage][-1] if stream else parsed.usage
    assert usage.prompt_tokens > 8 and usage.completion_tokens >= 9
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    row = relay.ledger_row(raw.headers["x-request-id"])
    assert row["usage_estimated"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
