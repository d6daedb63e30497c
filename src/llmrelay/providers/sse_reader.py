"""Reading Server-Sent Events from an upstream response, one event at a time."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str


async def read_sse(lines: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield each event as soon as its blank line arrives; comments (`:`) are dropped.

    Tolerates `\\r\\n` line ends, `data:` without the space, and a last event that is not
    followed by a blank line (the upstream closed right after it).
    """
    event: str | None = None
    data: list[str] = []
    async for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield SSEEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield SSEEvent(event, "\n".join(data))
