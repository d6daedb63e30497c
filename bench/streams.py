"""A small streaming client that timestamps every SSE event, and the runs built on it.

It is a raw asyncio `Protocol` with httptools parsing the (chunked) response, so one core can
follow a thousand paced streams. An event is timestamped when the read that completed it
returns, so events that arrive in one read share a time. Content events are recognised by the
mock's token text, which makes the count independent of how a gateway frames role, finish and
usage chunks.

A stream **stalls** when it fails (connection error, non-200, an error frame, no `[DONE]`,
fewer content chunks than asked for), when its first content chunk arrives more than
`STALL_MS` after the request was written, or when two consecutive content chunks are more than
the pacing gap plus `STALL_MS` apart.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools
import orjson

from bench.mock_upstream import TOKEN
from bench.stats import percentile

STALL_MS = 250.0
TOKEN_JSON = orjson.dumps(TOKEN)


@dataclass(frozen=True, slots=True)
class Framing:
    """How one door's stream looks on the wire: its path, the events that carry the mock's
    token, the event that ends it and the one that reports an error."""

    path: str
    content_marks: tuple[bytes, ...]
    done_mark: bytes
    error_mark: bytes

    def request_body(self, model: str, chunks: int) -> bytes:
        messages = [{"role": "user", "content": "Stream a short answer."}]
        body: dict[str, object] = {"model": model, "messages": messages, "stream": True}
        body["max_tokens"] = chunks
        if self is CHAT:
            body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)


CHAT = Framing(
    "/chat/completions", (b'"content":' + TOKEN_JSON,), b"data: [DONE]", b'data: {"error"'
)
MESSAGES = Framing("/messages", (b'"text":' + TOKEN_JSON,), b"event: message_stop", b"event: error")
FRAMINGS = {"chat": CHAT, "messages": MESSAGES}


@dataclass(frozen=True, slots=True)
class StreamTarget:
    host: str
    port: int
    path: str
    key: str | None
    model: str
    framing: Framing = CHAT

    @classmethod
    def from_base_url(
        cls, base_url: str, key: str | None, model: str, door: str = "chat"
    ) -> StreamTarget:
        parts = urlsplit(base_url)
        framing = FRAMINGS[door]
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 80,
            parts.path.rstrip("/") + framing.path,
            key,
            model,
            framing,
        )

    def request(self, chunks: int) -> bytes:
        body = self.framing.request_body(self.model, chunks)
        auth = f"Authorization: Bearer {self.key}\r\n" if self.key else ""
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n{auth}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


@dataclass(slots=True)
class StreamResult:
    error: str | None = None
    ttft_s: float | None = None
    content_times: list[float] = field(default_factory=list)

    def gaps_s(self) -> list[float]:
        t = self.content_times
        return [b - a for a, b in itertools.pairwise(t)]

    def stalled(self, gap_s: float) -> bool:
        if self.error is not None or self.ttft_s is None:
            return True
        if self.ttft_s * 1000 > STALL_MS:
            return True
        limit = gap_s + STALL_MS / 1000
        return any(g > limit for g in self.gaps_s())


class StreamConnection(asyncio.Protocol):
    """One keep-alive connection that runs one stream at a time."""

    def __init__(self, framing: Framing = CHAT) -> None:
        self.framing = framing
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.buffer = b""
        self.now = 0.0
        self.done = False
        self.failure: str | None = None
        self.content_times: list[float] = []
        self.waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed mid-response"))

    def data_received(self, data: bytes) -> None:
        self.now = time.perf_counter()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ConnectionError(f"bad HTTP: {exc}"))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status != 200:
            self.failure = f"HTTP {status}"

    def on_body(self, body: bytes) -> None:
        events = (self.buffer + body).split(b"\n\n")
        self.buffer = events.pop()
        framing = self.framing
        for event in events:
            if any(mark in event for mark in framing.content_marks):
                self.content_times.append(self.now)
            elif event.startswith(framing.done_mark):
                self.done = True
            elif event.startswith(framing.error_mark) and self.failure is None:
                self.failure = "error frame: " + event[:200].decode(errors="replace")

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def stream(self, request: bytes, chunks: int, limit_s: float) -> StreamResult:
        if self.transport is None:
            return StreamResult(error="not connected")
        self.buffer, self.done, self.failure, self.content_times = b"", False, None, []
        self.waiter = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self.transport.write(request)
        try:
            await asyncio.wait_for(self.waiter, limit_s)
        except (ConnectionError, TimeoutError) as exc:
            return StreamResult(error=str(exc) or type(exc).__name__)
        times = self.content_times
        result = StreamResult(self.failure, times[0] - sent if times else None, times)
        if result.error is None and not self.done:
            result.error = "no end of stream (" + self.framing.done_mark.decode() + ")"
        if result.error is None and len(times) != chunks:
            result.error = f"{len(times)} content chunks, expected {chunks}"
        return result

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(target: StreamTarget) -> StreamConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: StreamConnection(target.framing), target.host, target.port
    )
    return protocol


@dataclass(slots=True)
class StreamRun:
    """Everything one streaming run observed."""

    results: list[StreamResult]
    gap_s: float
    peak_in_flight: int = 0

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if r.error is not None]

    @property
    def stalls(self) -> int:
        return sum(r.stalled(self.gap_s) for r in self.results)

    def ttft_ms(self, q: float) -> float:
        return percentile([r.ttft_s * 1000 for r in self.results if r.ttft_s is not None], q)

    def gap_ms(self, q: float) -> float:
        return percentile([g * 1000 for r in self.results for g in r.gaps_s()], q)

    @property
    def chunks(self) -> int:
        """Content chunks delivered, over every stream."""
        return sum(len(r.content_times) for r in self.results)


async def sequential_streams(
    target: StreamTarget, chunks: int, duration_s: float, gap_s: float
) -> StreamRun:
    """One stream in flight at a time on one keep-alive connection, for `duration_s`."""
    request = target.request(chunks)
    run = StreamRun([], gap_s, 1)
    connection = await connect(target)
    deadline = time.perf_counter() + duration_s
    try:
        while time.perf_counter() < deadline:
            result = await connection.stream(request, chunks, chunks * gap_s + 30)
            run.results.append(result)
            if result.error is not None:
                break
    finally:
        connection.close()
    return run


async def concurrent_streams(
    target: StreamTarget,
    concurrency: int,
    chunks: int,
    gap_s: float,
    hold_s: float,
    ramp_s: float = 0.5,
) -> StreamRun:
    """`concurrency` connections, started evenly over `ramp_s`, each streaming back to back
    until `hold_s` has passed since the start (a stream under way is finished)."""
    request = target.request(chunks)
    run = StreamRun([], gap_s)
    in_flight = 0
    start = time.perf_counter()

    async def slot(index: int) -> None:
        nonlocal in_flight
        await asyncio.sleep(ramp_s * index / concurrency)
        try:
            connection = await connect(target)
        except OSError as exc:
            run.results.append(StreamResult(error=f"connect: {exc}"))
            return
        try:
            while True:
                in_flight += 1
                run.peak_in_flight = max(run.peak_in_flight, in_flight)
                result = await connection.stream(request, chunks, chunks * gap_s + 30)
                in_flight -= 1
                run.results.append(result)
                if result.error is not None or time.perf_counter() - start >= hold_s:
                    return
        finally:
            connection.close()

    await asyncio.gather(*(slot(i) for i in range(concurrency)))
    return run
