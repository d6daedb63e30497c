"""The relay's own upstream client against answers framed in every way HTTP/1.1 allows
(RFC 9112): a real socket server writes each answer byte for byte, and the stream's events
and its end are what a pump would get."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from llmrelay.protocol.request import parse_chat_request
from llmrelay.providers.anthropic import AnthropicProvider
from llmrelay.providers.base import UpstreamCall, UpstreamError
from llmrelay.providers.native import NativeRequest, open_native
from tests.providers.h1_upstream import Upstream, chunked

START = b'event: message_start\ndata: {"type":"message_start"}\n\n'
STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"


class Sink:
    """What a pump gets: the events, and the end."""

    def __init__(self, first: bytes) -> None:
        self.received = first
        self.end: asyncio.Future[UpstreamError | None] = asyncio.get_running_loop().create_future()

    def events(self, events: bytes) -> None:
        self.received += events

    def ended(self, error: UpstreamError | None) -> None:
        self.end.set_result(error)


async def stream_of(provider: AnthropicProvider) -> tuple[bytes, UpstreamError | None]:
    body = {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    call = UpstreamCall(parse_chat_request(orjson.dumps(body)), "claude-up", "req-1")
    stream: Any = await open_native(provider, provider.url, call, NativeRequest("x", body), True)
    await stream.prime(5, "up")
    sink = Sink(stream.first)
    stream.start(sink)
    stream.resume()
    error = await asyncio.wait_for(sink.end, 5)
    return sink.received, error


async def test_a_chunked_answer_in_pieces(serve: Any) -> None:
    upstream = Upstream([HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunked(START, STOP)] * 2)
    provider = await serve(upstream)
    for _ in range(2):
        assert await stream_of(provider) == (START + STOP, None)
    assert upstream.connections == 1  # read to its end, the connection carried the next


async def test_an_answer_that_ends_with_its_connection(serve: Any) -> None:
    upstream = Upstream([HEAD + b"\r\n" + START + STOP], close=True)
    provider = await serve(upstream)
    assert await stream_of(provider) == (START + STOP, None)
    assert provider.pool is not None and not provider.pool.idle


async def test_an_interim_answer_comes_before_the_real_one(serve: Any) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\n"
    answer = HEAD + b"content-length: %d\r\n\r\n" % len(START + STOP) + START + STOP
    provider = await serve(Upstream([early + answer]))
    assert await stream_of(provider) == (START + STOP, None)


async def test_a_last_event_without_its_blank_line_still_goes(serve: Any) -> None:
    unterminated = b'event: message_stop\ndata: {"type":"message_stop"}'
    answer = HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunked(START, unterminated)
    provider = await serve(Upstream([answer]))
    assert await stream_of(provider) == (START + unterminated + b"\n\n", None)


async def test_bytes_after_a_whole_answer_drop_only_the_connection(serve: Any) -> None:
    answer = HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunked(START, STOP)
    provider = await serve(Upstream([answer + b"HTTP/1.1 garbage\r\n\r\n"]))
    assert await stream_of(provider) == (START + STOP, None)
    assert provider.pool is not None and not provider.pool.idle


@pytest.mark.parametrize(
    "tail",
    [b"80\r\nevent: content_block_delta\ndata: {", b"not a chunk size\r\n"],
    ids=["cut-mid-chunk", "malformed"],
)
async def test_a_broken_chunk_is_a_cut_stream(serve: Any, tail: bytes) -> None:
    answer = HEAD + b"transfer-encoding: chunked\r\n\r\n" + b"%x\r\n%b\r\n" % (len(START), START)
    provider = await serve(Upstream([answer + tail], close=True))
    events, error = await stream_of(provider)
    assert events == START  # what came whole went on
    assert error is not None and error.code == "upstream_stream_cut"
    assert provider.pool is not None and not provider.pool.idle
