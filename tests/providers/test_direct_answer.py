"""Whole (not streamed) answers on the relay's own upstream client, framed in every way
HTTP/1.1 allows (RFC 9112), from a real socket server that writes each answer byte for byte:
what `complete` returns, and what each way of failing is to the client."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from llmrelay.config import Timeouts
from llmrelay.protocol.request import parse_chat_request
from llmrelay.providers.anthropic import AnthropicProvider
from llmrelay.providers.base import UpstreamCall, UpstreamError
from tests.providers.h1_upstream import Upstream, chunked

MESSAGE = orjson.dumps(
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-up",
        "content": [{"type": "text", "text": "Hello there"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
)
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"


def sized(body: bytes, head: bytes = HEAD) -> bytes:
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def call(timeouts: Timeouts | None = None) -> UpstreamCall:
    body = {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return UpstreamCall(
        parse_chat_request(orjson.dumps(body)), "claude-up", "req-1", timeouts=timeouts
    )


async def complete(provider: AnthropicProvider, timeouts: Timeouts | None = None) -> str:
    answer = await provider.complete(call(timeouts))
    return str(answer["choices"][0]["message"]["content"])


@pytest.mark.parametrize(
    "framing",
    [
        sized(MESSAGE),
        HEAD + b"transfer-encoding: chunked\r\n\r\n" + chunked(MESSAGE[:20], MESSAGE[20:]),
    ],
    ids=["content-length", "chunked"],
)
async def test_answers_in_a_row_share_one_connection(serve: Any, framing: bytes) -> None:
    upstream = Upstream([framing] * 3)
    provider = await serve(upstream)
    for _ in range(3):
        assert await complete(provider) == "Hello there"
    assert upstream.connections == 1
    assert provider.pool is not None and len(provider.pool.idle) == 1


async def test_an_answer_that_ends_with_its_connection(serve: Any) -> None:
    provider = await serve(Upstream([HEAD + b"\r\n" + MESSAGE], close=True))
    assert await complete(provider) == "Hello there"
    assert provider.pool is not None and not provider.pool.idle


async def test_a_refusal_is_the_providers_mapped_error(serve: Any) -> None:
    refusal = orjson.dumps(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    )
    head = b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-type: application/json\r\n"
    provider = await serve(Upstream([sized(refusal, head), sized(MESSAGE)]))
    with pytest.raises(UpstreamError) as refused:
        await complete(provider)
    assert refused.value.status == 429 and "slow down" in refused.value.message
    assert await complete(provider) == "Hello there"  # a refusal read whole keeps its connection


async def test_a_connection_the_upstream_dropped_while_idle_is_replaced(serve: Any) -> None:
    """The upstream reads the second request on the kept connection and closes it without a
    word (as one that timed the connection out while idle does): it goes again on a new one."""

    class Dropping(Upstream):
        async def handle(self, reader: Any, writer: Any) -> None:
            self.connections += 1
            await reader.readuntil(b"\r\n\r\n")
            await reader.read(1)  # (the body's first byte)
            if self.connections == 1:
                writer.write(sized(MESSAGE))
                await writer.drain()
                await reader.readuntil(b"\r\n\r\n")  # the next request: dropped unanswered
            else:
                writer.write(sized(MESSAGE))
                await writer.drain()
            writer.close()

    upstream = Dropping([])
    provider = await serve(upstream)
    assert await complete(provider) == "Hello there"
    assert await complete(provider) == "Hello there"
    assert upstream.connections == 2


@pytest.mark.parametrize(
    ("answer", "code", "kept"),
    [
        (HEAD + b"content-length: 500\r\n\r\n" + MESSAGE, "upstream_unreachable", False),
        (sized(b"<html>gateway</html>"), "upstream_malformed", True),
        (sized(MESSAGE, HEAD + b"content-encoding: gzip\r\n"), "upstream_malformed", False),
    ],
    ids=["cut-short", "not-json", "compressed"],
)
async def test_a_broken_answer_is_the_clients_error(
    serve: Any, answer: bytes, code: str, kept: bool
) -> None:
    """A 502 in the relay's words; the connection is kept only if the answer was read whole."""
    provider = await serve(Upstream([answer]))
    with pytest.raises(UpstreamError) as broken:
        await complete(provider)
    assert broken.value.code == code and broken.value.status == 502
    assert provider.pool is not None and len(provider.pool.idle) == kept


async def test_an_answer_that_stops_midway_times_out(serve: Any) -> None:
    class Stalling(Upstream):
        async def handle(self, reader: Any, writer: Any) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(HEAD + b"content-length: 500\r\n\r\n" + MESSAGE[:10])
            await writer.drain()
            await reader.read()  # and nothing more, until the relay gives up

    provider = await serve(Stalling([]))
    timeouts = Timeouts(connect=1, first_token=0.2, idle=0.2, total=10)
    with pytest.raises(UpstreamError) as late:
        await complete(provider, timeouts)
    assert late.value.code == "upstream_timeout"
    assert "no data between reads in time" in late.value.message
