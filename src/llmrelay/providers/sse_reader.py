"""Reading Server-Sent Events from an upstream response.

`read_sse_batches` is the fast path: it takes whatever one network read brought, splits
complete events as bytes, and yields them together, so a burst of events costs one await.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str


def _parse_event(block: bytes) -> SSEEvent | None:
    event: str | None = None
    data: list[str] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value.decode("utf-8", errors="replace"))
        elif field == b"event":
            event = value.decode("utf-8", errors="replace")
    if not data:
        return None
    return SSEEvent(event, data[0] if len(data) == 1 else "\n".join(data))


def complete_event_end(buffer: bytes) -> int:
    """Where the last complete SSE event in `buffer` ends (0: none yet)."""
    if buffer.endswith(b"\n\n"):  # a read of whole events, as most are
        return len(buffer)
    end = buffer.rfind(b"\n\n") + 2
    if b"\r" in buffer:  # CRLF line ends (rare): the later of the two kinds of blank line
        end = max(end, buffer.rfind(b"\r\n\r\n") + 4)
    return end if end > 3 else 0


def split_events(buffer: bytes) -> tuple[list[SSEEvent], bytes]:
    """The complete events in `buffer`, and what follows the last one."""
    if b"\r" in buffer:
        buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    *blocks, rest = buffer.split(b"\n\n")
    events = [event for block in blocks if (event := _parse_event(block)) is not None]
    return events, rest


async def read_sse_batches(reads: AsyncIterable[bytes]) -> AsyncIterator[list[SSEEvent]]:
    """Yield the complete events of each network read together (never an empty list)."""
    buffer = b""
    async for data in reads:
        events, buffer = split_events(buffer + data if buffer else data)
        if events:
            yield events
    last = _parse_event(buffer) if buffer.strip() else None
    if last is not None:
        yield [last]
