"""Usage read off pass-through streams, as the vendors send them."""

from __future__ import annotations

import orjson

from llmrelay.doors.messages_native import MessagesStreamMeter
from llmrelay.doors.responses_native import ResponsesStreamMeter
from llmrelay.metering.tokens import TokenCounter
from llmrelay.providers.native import complete_event_end

HELLO = [{"role": "user", "content": "hello there"}]


def event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def test_anthropic_usage_is_cumulative_across_start_and_delta() -> None:
    meter = MessagesStreamMeter(TokenCounter(), HELLO)
    start = {
        "message": {
            "usage": {
                "input_tokens": 10,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 5,
                "output_tokens": 1,
            }
        }
    }
    meter.feed(event("message_start", start) + event("ping", {}))
    meter.feed(
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
    )
    meter.feed(
        event(
            "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}}
        )
    )
    usage = meter.usage()
    assert (usage.prompt_tokens, usage.completion_tokens) == (115, 42)
    assert (usage.cached_tokens, usage.cache_write_tokens) == (100, 5)
    assert not meter.estimated


def test_an_anthropic_stream_cut_before_its_usage_is_counted() -> None:
    meter = MessagesStreamMeter(TokenCounter(), HELLO)
    meter.feed(
        event("content_block_delta", {"delta": {"type": "text_delta", "text": "word " * 20}})
    )
    usage = meter.usage()
    assert meter.estimated and usage.completion_tokens >= 20 and usage.prompt_tokens > 0


def test_responses_usage_comes_with_the_final_event() -> None:
    meter = ResponsesStreamMeter(TokenCounter(), HELLO)
    meter.feed(event("response.output_text.delta", {"delta": "Hello"}))
    final = {
        "response": {
            "usage": {
                "input_tokens": 30,
                "input_tokens_details": {"cached_tokens": 10},
                "output_tokens": 7,
                "output_tokens_details": {"reasoning_tokens": 3},
                "total_tokens": 37,
            }
        }
    }
    meter.feed(event("response.completed", final))
    usage = meter.usage()
    assert (usage.prompt_tokens, usage.completion_tokens) == (30, 7)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (10, 3)


def test_only_whole_events_are_cut_from_a_read() -> None:
    assert complete_event_end(b"event: a\ndata: {}\n\nevent: b\ndata: {") == 19
    assert complete_event_end(b"data: {}\r\n\r\ndata") == 12
    assert complete_event_end(b"data: {") == 0
