"""A very fast mock upstream: OpenAI's `POST /v1/chat/completions` and Anthropic's
`POST /v1/messages`, nothing else.

It must never be the bottleneck of a benchmark, so it is a raw asyncio `Protocol` on uvloop
with httptools parsing: HTTP/1.1 keep-alive, `Content-Length` request bodies, whole answers
with `Content-Length`, streams with chunked transfer-encoding. The wire format is OpenAI's:
a `chat.completion` with `usage`; or SSE `data: {chunk}` frames (the first carries
`delta.role`, every chunk the same `id` and `created`, the last content-bearing one
`finish_reason: "stop"`, then a `choices: []` usage chunk when `stream_options.include_usage`
is set) and `data: [DONE]`.

Streams send the role chunk and the first content chunk at once, then the other content
chunks `--gap-ms` apart. A request's `max_tokens` (or `max_completion_tokens`), when given,
sets its number of content chunks, so one mock serves every streaming scenario and any gateway
forwards the knob; otherwise `--chunks` does.

    python -m bench.mock_upstream --port 18001 [--delay-ms 0] [--chunks 64] [--gap-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import socket
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import httptools
import orjson

PATH = b"/v1/chat/completions"
MESSAGES_PATH = b"/v1/messages"
CONTENT = "Hello from the mock upstream, a perfectly ordinary answer."
TOKEN = " token"
PROMPT_TOKENS = 12
_ids = itertools.count(1)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MockSettings:
    delay_s: float = 0.0
    chunks: int = 64
    gap_s: float = 0.02


@dataclass(slots=True)
class _Request:
    url: bytes
    close: bool
    body: bytes


def _http_chunk(payload: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def _frame(chunk: dict[str, Any]) -> bytes:
    return _http_chunk(b"data: " + orjson.dumps(chunk) + b"\n\n")


def _usage(completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _response_head(status: bytes, content_type: bytes, extra: bytes, close: bool) -> bytes:
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: "
        + content_type
        + b"\r\n"
        + extra
        + b"connection: "
        + connection
        + b"\r\n\r\n"
    )


def completion_body(model: str) -> bytes:
    return orjson.dumps(
        {
            "id": f"chatcmpl-mock{next(_ids):012d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": CONTENT,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(10),
            "service_tier": "default",
        }
    )


class _Stream:
    """One paced SSE stream: every frame is built once, then written on timer ticks."""

    def __init__(
        self, conn: MockConnection, frames: tuple[bytes, bytes, bytes], chunks: int
    ) -> None:
        self.conn = conn
        self.remaining = chunks
        self.role, self.content, tail = frames
        self.tail = tail + b"0\r\n\r\n"
        self.gap = conn.settings.gap_s
        self.next_at = 0.0

    def start(self, head: bytes) -> None:
        loop = self.conn.loop
        self.next_at = loop.time()
        self._send(head + self.role)

    def _send(self, prefix: bytes) -> None:
        if self.conn.transport is None or self.conn.transport.is_closing():
            return
        data = prefix
        if self.remaining > 0:
            data += self.content
            self.remaining -= 1
        if self.remaining == 0:
            self.conn.transport.write(data + self.tail)
            self.conn.finished()
            return
        self.conn.transport.write(data)
        self.next_at += self.gap
        self.conn.loop.call_at(self.next_at, self._send, b"")


def chat_frames(model: str, chunks: int, usage: bool) -> tuple[bytes, bytes, bytes]:
    """The opening (role) frame, the one content frame, and the closing frames of a stream."""
    base = {
        "id": f"chatcmpl-mock{next(_ids):012d}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_mock",
    }
    extra = {"usage": None} if usage else {}

    def choice(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }

    role = _frame(choice({"role": "assistant", "content": "", "refusal": None}, None))
    content = _frame(choice({"content": TOKEN}, None))
    tail = _frame(choice({}, "stop"))
    if usage:
        tail += _frame({**base, "choices": [], "usage": _usage(chunks)})
    return role, content, tail + _http_chunk(b"data: [DONE]\n\n")


def _event(name: str, data: dict[str, Any]) -> bytes:
    return _http_chunk(b"event: %b\ndata: %b\n\n" % (name.encode(), orjson.dumps(data)))


def messages_frames(model: str, chunks: int) -> tuple[bytes, bytes, bytes]:
    """An Anthropic Messages stream's opening events, its one text delta, and its closing
    events (https://docs.anthropic.com/en/api/messages-streaming)."""
    message = {
        "id": f"msg_mock{next(_ids):012d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1},
    }
    opening = _event("message_start", {"type": "message_start", "message": message})
    block = {"type": "text", "text": ""}
    opening += _event(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    )
    delta = {"type": "text_delta", "text": TOKEN}
    content = _event(
        "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    )
    tail = _event("content_block_stop", {"type": "content_block_stop", "index": 0})
    stop = {"stop_reason": "end_turn", "stop_sequence": None}
    tail += _event(
        "message_delta",
        {"type": "message_delta", "delta": stop, "usage": {"output_tokens": chunks}},
    )
    tail += _event("message_stop", {"type": "message_stop"})
    return opening, content, tail


def message_body(model: str) -> bytes:
    return orjson.dumps(
        {
            "id": f"msg_mock{next(_ids):012d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": CONTENT}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 10},
        }
    )


class MockConnection(asyncio.Protocol):
    """One client connection; requests are answered one at a time, in order."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[_Request] = deque()
        self.busy = False
        self._url = b""
        self._body: list[bytes] = []
        self._close = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._reply(b"400 Bad Request", b'{"error":{"message":"bad request"}}', True)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._body, self._close = b"", [], False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"connection" and value.lower() == b"close":
            self._close = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        close = self._close or not self.parser.should_keep_alive()
        self.pending.append(_Request(self._url, close, b"".join(self._body)))
        if not self.busy:
            self._next()

    # answering
    def _next(self) -> None:
        if not self.pending or self.transport is None:
            return
        self.busy = True
        request = self.pending.popleft()
        self._close = request.close
        try:
            self._answer(request)
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
            self._reply(b"400 Bad Request", b'{"error":{"message":"invalid JSON body"}}', True)

    def _answer(self, request: _Request) -> None:
        path = request.url.split(b"?", 1)[0]
        if path not in (PATH, MESSAGES_PATH):
            self._reply(b"404 Not Found", b'{"error":{"message":"not found"}}', request.close)
            return
        body = orjson.loads(request.body)
        model = str(body.get("model") or "mock")
        messages = path == MESSAGES_PATH
        if body.get("stream"):
            limit = body.get("max_completion_tokens") or body.get("max_tokens")
            chunks = limit if isinstance(limit, int) and limit > 0 else self.settings.chunks
            if messages:
                frames = messages_frames(model, chunks)
            else:
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                frames = chat_frames(model, chunks, usage)
            head = _response_head(
                b"200 OK", b"text/event-stream", b"transfer-encoding: chunked\r\n", request.close
            )
            _Stream(self, frames, chunks).start(head)
            return
        payload = message_body(model) if messages else completion_body(model)
        if self.settings.delay_s > 0:
            self.loop.call_later(
                self.settings.delay_s, self._reply, b"200 OK", payload, request.close
            )
        else:
            self._reply(b"200 OK", payload, request.close)

    def _reply(self, status: bytes, payload: bytes, close: bool) -> None:
        if self.transport is None:
            return
        length = b"content-length: %d\r\n" % len(payload)
        head = _response_head(status, b"application/json", length, close)
        self.transport.write(head + payload)
        self._close = close
        self.finished()

    def finished(self) -> None:
        self.busy = False
        if self._close:
            if self.transport is not None:
                self.transport.close()
            return
        self._next()


async def serve(host: str, port: int, settings: MockSettings) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: MockConnection(settings), host, port, backlog=4096, reuse_address=True
    )
    print(f"mock upstream ready on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.mock_upstream", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18001)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="non-stream answer delay")
    parser.add_argument("--chunks", type=int, default=64, help="content chunks per stream")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="pause between chunks")
    args = parser.parse_args(argv)
    settings = MockSettings(args.delay_ms / 1000, max(1, args.chunks), args.gap_ms / 1000)
    with contextlib.suppress(KeyboardInterrupt):
        run_fast(serve(args.host, args.port, settings))


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    main()
