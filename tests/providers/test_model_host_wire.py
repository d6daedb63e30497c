"""The model host's frames carry a call as the relay built it, and an error as the host's
provider raised it (a refusal stays a refusal, back-pressure stays back-pressure)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmrelay.config import (
    LocalEmbeddingsProvider,
    LocalProvider,
    ModelConfig,
    TimeoutOverrides,
    Timeouts,
)
from llmrelay.doors.base import Door
from llmrelay.doors.chat import ChatDoor
from llmrelay.doors.completions import CompletionsDoor
from llmrelay.doors.embeddings import EmbeddingsDoor
from llmrelay.doors.messages import MessagesDoor
from llmrelay.doors.responses import ResponsesDoor
from llmrelay.metering.ledger import ENDPOINTS
from llmrelay.model_host.wire import (
    Call,
    Codec,
    Failed,
    FromHost,
    ToHost,
    relay_error,
    wire_error,
)
from llmrelay.protocol.errors import invalid_request
from llmrelay.protocol.reasoning import ReasoningIntent
from llmrelay.providers.base import Provider, UpstreamCall, UpstreamError, serves
from llmrelay.providers.engine_worker import queue_full
from llmrelay.providers.host_link import HostLink
from llmrelay.providers.local import LocalModelProvider
from llmrelay.providers.local_embeddings import LocalEmbeddingsModelProvider
from llmrelay.providers.local_remote import hosted_provider

USER = [{"role": "user", "content": "Hi there"}]

DOORS: list[tuple[Door, dict[str, Any]]] = [
    (
        ChatDoor(),
        {
            "model": "m",
            "messages": [{"role": "system", "content": "Be brief."}, *USER],
            "temperature": 0.25,
            "top_p": 0.5,
            "stop": ["\n\n", "END"],
            "seed": 2**63 - 1,
            "n": 2,
            "logprobs": True,
            "top_logprobs": 3,
            "logit_bias": {"42": -100, "7": 2.5},
            "response_format": {"type": "json_schema", "json_schema": {"schema": {}}},
            "max_completion_tokens": 77,
            "stream": True,
            "stream_options": {"include_usage": True},
            "reasoning_effort": "low",
        },
    ),
    (
        MessagesDoor(),
        {
            "model": "m",
            "system": "Be brief.",
            "max_tokens": 5,
            "stop_sequences": ["END"],
            "temperature": 0.5,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        },
    ),
    (
        ResponsesDoor(),
        {
            "model": "m",
            "instructions": "Be brief.",
            "input": "Hi there",
            "max_output_tokens": 19,
            "reasoning": {"effort": "high"},
            "store": False,
        },
    ),
    (
        CompletionsDoor(),
        {"model": "m", "prompt": "Once upon", "max_tokens": 3, "echo": False, "best_of": 1},
    ),
    (EmbeddingsDoor(), {"model": "m", "input": ["one", "two"], "dimensions": 384}),
]


@pytest.mark.parametrize(("door", "body"), DOORS, ids=lambda v: type(v).__name__)
def test_a_call_crosses_as_the_door_built_it(door: Door, body: dict[str, Any]) -> None:
    request = door.parse(body).request
    call = UpstreamCall(
        request,
        "upstream-m",
        "req-1",
        model=ModelConfig(provider="local", timeouts=TimeoutOverrides(idle=3.0)),
        reasoning=ReasoningIntent(True, "high"),
        reasoning_from_name=True,
        timeouts=Timeouts(first_token=4.0),
        max_tokens=request.max_tokens or 11,
        direct=True,
    )
    sent = Codec(FromHost).encode(Call(7, "open_stream", "local", call))
    received = Codec(ToHost).decode(bytes(sent[4:]))
    assert received == Call(7, "open_stream", "local", call)
    assert received.call.request.n == request.n


def test_errors_keep_their_class_and_every_field() -> None:
    busy = relay_error(wire_error(queue_full(3)))
    assert isinstance(busy, UpstreamError)
    assert busy.body() == queue_full(3).body() and busy.status == 429
    assert (busy.retry_after, busy.health_failure) == (1.0, False)
    assert busy.headers() == queue_full(3).headers()

    refusal = invalid_request("too long", param="messages", code="context_length_exceeded")
    refusal.extra_headers = [(b"x-why", b"because")]
    back = relay_error(wire_error(refusal))
    assert type(back) is type(refusal)
    assert (back.status, back.body(), back.headers()) == (400, refusal.body(), refusal.headers())


async def test_frames_are_read_whole_and_the_end_is_none() -> None:
    codec = Codec(FromHost)
    frame = Failed(3, wire_error(queue_full(1)))
    encoded = bytes(codec.encode(frame))
    reader = asyncio.StreamReader()
    reader.feed_data(encoded + encoded[:-1])
    reader.feed_eof()
    assert await codec.read(reader) == frame
    assert await codec.read(reader) is None, "a frame cut short is the connection's end"


def test_hosted_providers_answer_the_doors_the_embedded_ones_answer() -> None:
    link = HostLink("/nonexistent/host.sock")
    pairs = [
        (LocalModelProvider("a", LocalProvider()), hosted_provider("a", LocalProvider(), link)),
        (
            LocalEmbeddingsModelProvider("b", LocalEmbeddingsProvider()),
            hosted_provider("b", LocalEmbeddingsProvider(), link),
        ),
    ]
    for embedded, hosted in pairs:
        assert [serves(hosted, e) for e in ENDPOINTS] == [serves(embedded, e) for e in ENDPOINTS]
        flags = ("takes_tools", "takes_images", "chats", "uses_image_fetcher")
        assert [getattr(hosted, f) for f in flags] == [getattr(embedded, f) for f in flags]
        assert hosted.status()["kind"] == embedded.kind
        assert not hosted.ready, "not before the host has answered"
    assert Provider.registry["local"] is LocalModelProvider
    assert Provider.registry["local-embeddings"] is LocalEmbeddingsModelProvider
