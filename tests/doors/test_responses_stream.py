"""The Responses stream encoder on its own: what a client reads when the upstream fails
before its first token (the relay's 200 has gone out already, with pings)."""

from __future__ import annotations

import asyncio
import json

from llmrelay.doors.responses_output import ResponseShape
from llmrelay.doors.responses_stream import ResponsesStream
from llmrelay.metering.meter import StreamMeter
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.errors import RelayError


def frames(raw: bytes) -> list[dict]:
    return [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]


def test_a_failure_before_any_token_still_opens_the_response() -> None:
    stream = ResponsesStream(ResponseShape({"model": "m", "input": "hi"}, created_at=1))
    failed = frames(
        stream.error(RelayError(504, "no first token in time", code="upstream_timeout"))
    )
    assert [f["type"] for f in failed] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    assert [f["sequence_number"] for f in failed] == [0, 1, 2]
    assert failed[-1]["response"]["error"] == {
        "code": "upstream_timeout",
        "message": "no first token in time",
    }
    assert len({f["response"]["id"] for f in failed}) == 1


def meter() -> StreamMeter:
    """A meter as the pipeline leaves it at the end: holding the upstream's usage."""
    metered = StreamMeter(TokenCounter(), [])
    metered.reported = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return metered


def chunk(**delta: object) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def run(chunks: list[dict]) -> list[dict]:
    stream = ResponsesStream(ResponseShape({"model": "m", "input": "hi"}, created_at=1))
    raw = stream.begin() + b"".join(stream.delta(c) for c in chunks)
    end = meter()
    asyncio.run(stream.finish(end))
    return frames(raw + stream.end(end))


def test_a_refusal_streams_as_a_refusal_part() -> None:
    sent = run(
        [chunk(role="assistant", content=""), chunk(refusal="I can't "), chunk(refusal="help.")]
    )
    names = [f["type"] for f in sent]
    assert names[2:] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.delta",
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert sent[3]["part"] == {"type": "refusal", "refusal": ""}
    done = sent[-2]["item"]
    assert done["content"] == [{"type": "refusal", "refusal": "I can't help."}]
    assert sent[-1]["response"]["output"] == [done]


def test_a_late_fragment_of_an_earlier_call_reaches_the_final_object() -> None:
    def call(index: int, arguments: str, **head: str) -> dict:
        return chunk(tool_calls=[{"index": index, "function": {"arguments": arguments, **head}}])

    first = chunk(
        tool_calls=[{"index": 0, "id": "c0", "function": {"name": "a", "arguments": "{"}}]
    )
    second = chunk(
        tool_calls=[{"index": 1, "id": "c1", "function": {"name": "b", "arguments": "{}"}}]
    )
    sent = run([first, second, call(0, "}")])
    output = sent[-1]["response"]["output"]
    assert [(i["call_id"], i["arguments"]) for i in output] == [("c0", "{}"), ("c1", "{}")]
    assert [f["output_index"] for f in sent if f["type"] == "response.output_item.added"] == [0, 1]
