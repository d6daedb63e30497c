"""Pass-through: a door's request sent to an upstream that speaks the door's protocol itself.

The client's body goes upstream untouched but for `model` (and an output cap the relay had
to set), so every field survives, known to the relay or not: prompt caching, signed thinking
blocks, `context_management`, encrypted reasoning. The answer comes back as it came: a whole
JSON body, or the upstream's SSE bytes, cut only at event boundaries (so a `: ping` the relay
adds never lands inside an event) and never parsed here; the door's meter reads the usage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from llmrelay.providers.base import UpstreamCall, upstream_timeout
from llmrelay.providers.direct_answer import post_json
from llmrelay.providers.direct_stream import DirectStream, open_direct
from llmrelay.providers.http_upstream import HttpProvider, stream_read_error
from llmrelay.providers.sse_reader import complete_event_end, split_events


@dataclass(slots=True)
class NativeRequest:
    """What a door sends an upstream that speaks its protocol."""

    protocol: str
    body: dict[str, Any]
    """The client's body with the upstream's model name (and the relay's cap, if it set one)."""
    headers: dict[str, str] = field(default_factory=dict)
    """The protocol's own headers from the client (`anthropic-beta`, ...); never its key."""


class RawStream:
    """An upstream's SSE answer as bytes, whole events at a time."""

    def __init__(self, provider: HttpProvider, response: aiohttp.ClientResponse) -> None:
        self.provider = provider
        self.response = response

    async def events(self) -> AsyncIterator[bytes]:
        """Each read's complete events together (never an empty bytes); what follows the last
        complete event waits for the next read, and a last unterminated one comes at the end."""
        name = self.provider.name
        buffer = b""
        try:
            async for data in self.response.content.iter_any():
                buffer = buffer + data if buffer else data
                cut = complete_event_end(buffer)
                if cut:
                    events, buffer = buffer[:cut], buffer[cut:]
                    yield events
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise stream_read_error(name, exc) from None
        finally:
            self.response.release()
        if buffer.strip():
            yield buffer + b"\n\n"

    async def aclose(self) -> None:
        self.response.close()


class PrimedRawStream:
    """A raw stream whose first events have arrived (within `first_token`): until then only
    `: ping`s reached the client, so a deployment that accepted and then said nothing can
    still be swapped for another. `first` are those events, `rest` the ones after them."""

    def __init__(self, inner: RawStream) -> None:
        self.inner = inner
        self.rest = inner.events().__aiter__()
        self.first = b""

    async def prime(self, first_token: float, provider: str) -> None:
        try:
            async with asyncio.timeout(first_token):
                self.first = await anext(self.rest)
        except TimeoutError:
            raise upstream_timeout(provider, "no first event in time") from None
        except StopAsyncIteration:
            self.first = b""

    async def aclose(self) -> None:
        await self.inner.aclose()


async def complete_native(
    provider: HttpProvider, url: str, call: UpstreamCall, native: NativeRequest
) -> dict[str, Any]:
    """A whole answer in the door's protocol, as the upstream sent it."""
    payload = orjson.dumps({**native.body, "stream": False})
    answer = await post_json(provider, url, payload, call, native.headers)
    if not isinstance(answer, dict):
        raise provider.malformed("an unexpected response")
    return scrubbed_answer(provider, answer)


MODEL_OUTPUT = ("content", "output")
"""The fields of a whole answer that are the model's own writing (Anthropic's `content`, the
Responses API's `output`), passed on as they came; the rest is the upstream's words."""


def scrubbed_answer(provider: HttpProvider, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with any credential the upstream quoted in its own words (an error, a stop
    reason) masked, as every other answer the relay gives is; the model's output as it came."""
    rest = {name: value for name, value in answer.items() if name not in MODEL_OUTPUT}
    return {**answer, **rest} if provider.scrubber.values(rest) else answer


def scrubbed_events(provider: HttpProvider, events: bytes) -> bytes:
    """A passed-through read whose events may hold the upstream's own words (an error, a
    stop reason): those words scrubbed; the read's bytes as they came when nothing was found."""
    parsed, _ = split_events(events)
    out: list[bytes] = []
    changed = False
    for event in parsed:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict | list) and provider.scrubber.values(data):
            changed = True
        head = b"event: " + event.event.encode() + b"\n" if event.event else b""
        body = orjson.dumps(data) if data is not None else event.data.encode()
        out.append(head + b"data: " + body + b"\n\n")
    return b"".join(out) if changed else events


async def open_native(
    provider: HttpProvider,
    url: str,
    call: UpstreamCall,
    native: NativeRequest,
    direct: bool = False,
) -> RawStream | DirectStream:
    """The upstream's stream in the door's protocol, once it accepted the request: on the
    relay's own client when the caller can pump it (`direct`) and the provider has a pool for
    it, else through aiohttp."""
    payload = orjson.dumps({**native.body, "stream": True})
    if direct and provider.pool is not None:
        return await open_direct(provider, provider.pool, url, payload, call, native.headers)
    response = await provider.post(url, payload, call, native.headers)
    return RawStream(provider, response)
