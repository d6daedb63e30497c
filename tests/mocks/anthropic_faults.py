"""The Anthropic mock (tests/mocks/anthropic_upstream.py), with what a pass-through's wire
can meet: the connection every request came on is recorded (`connections`),
streams still open are counted, and these upstream models misbehave at the connection level,
in Anthropic's event format (https://docs.anthropic.com/en/api/messages-streaming), every
request recorded as the plain mock records them:

- `mock-bulk`: `BULK_EVENTS` large text deltas written as fast as the relay takes them; the
  exact SSE bytes sent are kept (`bulk_sent`);
- `mock-cut-midchunk`: a few events, then half an HTTP chunk, and the connection closes;
- `mock-pause`: the opening events, then silence (for an hour);
- `mock-endless`: a text delta every 20 ms, for a minute;
- `mock-hang-head`: no answer at all (for an hour);
- `mock-silent-start`: the status line and headers, then silence;
- `mock-drop-reused`: a connection that already carried a request is dropped without an
  answer (an upstream that closed it while it was idle); a new one gets the normal answer.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.mocks.anthropic_upstream import MockAnthropic, ReceivedRequest, message

BULK_EVENTS = 1200
BULK_PIECE = "lorem ipsum dolor sit amet " * 600
"""16 KB of text a delta: 1,200 of them are about 20 MB, far more than the sockets between
the mock and a client hold, so a relay that did not hold its upstream back would buffer most
of it."""


@dataclass
class FaultAnthropic(MockAnthropic):
    connections: list[int] = field(default_factory=list)
    """The connection each request came on, numbered in the order they were opened."""
    _numbers: dict[int, tuple[Any, int]] = field(default_factory=dict)
    """Each connection's handler (held, so no other takes its id) and number, by id."""
    open_streams: int = 0
    bulk_sent: bytes = b""

    @property
    def base_url(self) -> str:
        return self.url

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        key = id(request.protocol)  # aiohttp's handler: one per connection
        reused = key in self._numbers
        if not reused:
            self._numbers[key] = (request.protocol, len(self._numbers) + 1)
        self.connections.append(self._numbers[key][1])
        model = (await request.json()).get("model")
        if model == "mock-drop-reused" and reused:
            request.transport.abort()
            await asyncio.sleep(3600)  # cancelled at once: the connection is gone
        handler = FAULTS.get(model)
        if handler is None:
            return await super()._messages(request)  # (which records the request)
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(ReceivedRequest(request.path, headers, body))
        return await handler(self, request, body)


class _Events:
    """An open SSE answer: `send` writes one named event."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self.request = request
        self.response = response
        self.sent = bytearray()

    async def send(self, name: str, data: dict[str, Any]) -> None:
        line = f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()
        self.sent += line
        await self.response.write(line)

    async def opening(self, body: dict[str, Any]) -> None:
        start = message(body, [], None)  # type: ignore[arg-type]
        await self.send("message_start", {"message": {**start, "usage": {"input_tokens": 9}}})
        text = {"type": "text", "text": ""}
        await self.send("content_block_start", {"index": 0, "content_block": text})

    async def delta(self, text: str) -> None:
        await self.send(
            "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}
        )

    async def closing(self, output_tokens: int) -> None:
        await self.send("content_block_stop", {"index": 0})
        stop = {"stop_reason": "end_turn", "stop_sequence": None}
        await self.send("message_delta", {"delta": stop, "usage": {"output_tokens": output_tokens}})
        await self.send("message_stop", {})


async def _open(mock: FaultAnthropic, request: web.Request) -> _Events:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    return _Events(request, response)


async def _bulk(mock: FaultAnthropic, request: web.Request, body: dict[str, Any]):
    events = await _open(mock, request)
    mock.open_streams += 1
    try:
        await events.opening(body)
        for _ in range(BULK_EVENTS):
            await events.delta(BULK_PIECE)
        await events.closing(BULK_EVENTS * len(BULK_PIECE.split()))
        mock.bulk_sent = bytes(events.sent)
        await events.response.write_eof()
        return events.response
    finally:
        mock.open_streams -= 1


async def _cut_midchunk(mock: FaultAnthropic, request: web.Request, body: dict[str, Any]):
    events = await _open(mock, request)
    await events.opening(body)
    await events.delta("Hello")
    await events.delta(" world")
    await asyncio.sleep(0.05)  # let those leave in chunks of their own
    half = b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind'
    request.transport.write(b"%x\r\n%b" % (len(half) * 2, half))  # half of the chunk declared
    await asyncio.sleep(0.05)
    request.transport.close()
    await asyncio.sleep(3600)  # cancelled: the connection is gone
    return events.response


async def _pause(mock: FaultAnthropic, request: web.Request, body: dict[str, Any]):
    events = await _open(mock, request)
    mock.open_streams += 1
    try:
        await events.opening(body)
        await events.delta("Hello")
        await asyncio.sleep(3600)
        return events.response
    finally:
        mock.open_streams -= 1


async def _endless(mock: FaultAnthropic, request: web.Request, body: dict[str, Any]):
    events = await _open(mock, request)
    mock.open_streams += 1
    try:
        await events.opening(body)
        for _ in range(3000):
            await events.delta("tick ")
            await asyncio.sleep(0.02)
        await events.closing(3000)
        return events.response
    finally:
        mock.open_streams -= 1


async def _hang_head(mock: FaultAnthropic, request: web.Request, body: dict[str, Any]):
    mock.open_streams += 1
    try:
        await asyncio.sleep(3600)
        return web.Response()
    finally:
        mock.open_streams -= 1


async def _silent_start(mock: FaultAnthropic, request: web.Request, body: dict[str, Any]):
    events = await _open(mock, request)
    mock.open_streams += 1
    try:
        await asyncio.sleep(3600)
        return events.response
    finally:
        mock.open_streams -= 1


FAULTS = {
    "mock-bulk": _bulk,
    "mock-cut-midchunk": _cut_midchunk,
    "mock-pause": _pause,
    "mock-endless": _endless,
    "mock-hang-head": _hang_head,
    "mock-silent-start": _silent_start,
}
