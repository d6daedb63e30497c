"""Server-Sent Events framing for OpenAI-style streams: `data:` frames only, no `event:` lines."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
PING = b": ping\n\n"

STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def data_frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"
