"""The Messages door's stream encoder on chunk sequences no mock upstream sends: parallel tool
calls whose fragments interleave (OpenAI's `tool_calls[].index`), and text between thinking.
The frames are read back by the anthropic SDK, as the body of a stream it asked for. Also the
removal of the relay's signature blocks before a body goes to Anthropic itself."""

from __future__ import annotations

from typing import Any

import httpx2
from anthropic import Anthropic

from llmrelay.doors import messages_signatures
from llmrelay.doors.messages import error_payload
from llmrelay.doors.messages_stream import MessagesStream
from llmrelay.metering.meter import StreamMeter
from llmrelay.metering.tokens import TokenCounter


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def call(index: int, arguments: str, **opening: str) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if opening:
        fragment["id"] = opening["id"]
        fragment["type"] = "function"
        fragment["function"]["name"] = opening["name"]
    return {"tool_calls": [fragment]}


def encode(chunks: list[dict[str, Any]]) -> bytes:
    encoder = MessagesStream("gpt-5", error_payload)
    meter = StreamMeter(TokenCounter(), [{"role": "user", "content": "hi"}])
    body = encoder.begin()
    for piece in chunks:
        meter.observe(piece)
        body += encoder.delta(piece)
    meter.usage()
    return body + encoder.end(meter)


def final_message(frames: bytes) -> Any:
    """The message the anthropic SDK builds from these frames, served as a stream's body."""
    headers = {"content-type": "text/event-stream"}
    transport = httpx2.MockTransport(
        lambda _request: httpx2.Response(200, content=frames, headers=headers)
    )
    with Anthropic(api_key="unused", http_client=httpx2.Client(transport=transport)) as client:
        ask = [{"role": "user", "content": "hi"}]
        with client.messages.stream(model="gpt-5", max_tokens=10, messages=ask) as stream:
            return stream.get_final_message()


def test_interleaved_parallel_tool_calls_arrive_whole() -> None:
    frames = encode(
        [
            chunk({"role": "assistant", "content": "Checking."}),
            chunk(call(0, "", id="call_a", name="get_weather")),
            chunk(call(1, '{"tz": ', id="call_b", name="get_time")),
            chunk(call(0, '{"city": ')),
            chunk(call(1, '"UTC"}')),
            chunk(call(0, '"Paris"}')),
            chunk({}, "tool_calls"),
        ]
    )
    message = final_message(frames)
    text, first, second = message.content
    assert text.text == "Checking."
    assert (first.id, first.name, first.input) == ("call_a", "get_weather", {"city": "Paris"})
    assert (second.id, second.name, second.input) == ("call_b", "get_time", {"tz": "UTC"})
    assert message.stop_reason == "tool_use"


def test_thinking_text_and_thinking_again_are_separate_blocks() -> None:
    frames = encode(
        [
            chunk({"reasoning_content": "First, "}),
            chunk({"reasoning_content": "think."}),
            chunk({"content": "Hello"}),
            chunk({"reasoning_content": "More thought."}),
            chunk({"content": " again"}, "stop"),
        ]
    )
    message = final_message(frames)
    assert [
        (b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in message.content
    ] == [
        ("thinking", "First, think."),
        ("text", "Hello"),
        ("thinking", "More thought."),
        ("text", " again"),
    ]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0  # counted by the relay when the upstream said nothing


def test_relay_signature_blocks_are_taken_out_for_anthropic() -> None:
    """An Anthropic upstream must never see a signature the relay minted (it refuses it);
    thinking blocks Anthropic signed stay as they are."""
    relayed = messages_signatures.signature_block({"call_1": "c2ln"})
    own = {"type": "thinking", "thinking": "hmm", "signature": "EqQBCkYIBxgCKkA"}
    use = {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {}}
    body = {"model": "m", "messages": [{"role": "assistant", "content": [own, use, relayed]}]}
    assert messages_signatures.without_relay_blocks(body)["messages"] == [
        {"role": "assistant", "content": [own, use]}
    ]
    assert body["messages"][0]["content"] == [own, use, relayed]  # the client's body untouched
    clean = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert messages_signatures.without_relay_blocks(clean) is clean
