"""The Responses stream encoder on its own: what a client reads when the upstream fails
before its first token (the relay's 200 has gone out already, with pings)."""

from __future__ import annotations

import json

from llmrelay.doors.responses_output import ResponseShape
from llmrelay.doors.responses_stream import ResponsesStream
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
