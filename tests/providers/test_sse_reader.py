"""Splitting SSE bytes into events, whatever the network read boundaries are."""

from __future__ import annotations

from collections.abc import AsyncIterator

from llmrelay.providers.sse_reader import SSEEvent, read_sse_batches


async def _reads(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _collect(*parts: bytes) -> list[list[SSEEvent]]:
    return [batch async for batch in read_sse_batches(_reads(*parts))]


async def test_events_of_one_read_come_together() -> None:
    batches = await _collect(b'data: {"a":1}\n\ndata: {"b":2}\n\n')
    assert batches == [[SSEEvent(None, '{"a":1}'), SSEEvent(None, '{"b":2}')]]


async def test_an_event_split_across_reads_is_reassembled() -> None:
    batches = await _collect(b"event: message_start\nda", b'ta: {"x"', b": 1}\n", b"\n")
    assert batches == [[SSEEvent("message_start", '{"x": 1}')]]


async def test_crlf_comments_and_multiline_data() -> None:
    raw = b": ping\r\n\r\ndata: one\r\ndata: two\r\n\r\ndata:nospace\r\n\r\n"
    assert await _collect(raw) == [[SSEEvent(None, "one\ntwo"), SSEEvent(None, "nospace")]]


async def test_a_last_event_without_blank_line_is_kept() -> None:
    assert await _collect(b"data: [DONE]") == [[SSEEvent(None, "[DONE]")]]


async def test_utf8_split_inside_a_character() -> None:
    text = "你好".encode()
    batches = await _collect(b"data: " + text[:2], text[2:] + b"\n\n")
    assert batches == [[SSEEvent(None, "你好")]]
