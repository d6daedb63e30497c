"""Relaying a chunk stream to the client as OpenAI's SSE, to the letter
(https://platform.openai.com/docs/api-reference/chat-streaming).

Whatever the upstream does, the client sees: the same `id` and `created` in every chunk, the
public model name, `delta.role` only in each choice's first chunk, `usage` only in one final
chunk with `choices: []` when it asked for `include_usage`, `: ping` comments while nothing
arrives, and `data: [DONE]`. An error after the first byte becomes a `data: {"error": ...}` frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from llmrelay.api.exchange import Exchange
from llmrelay.api.sse import DONE, PING, data_frame
from llmrelay.api.think_tags import ThinkTagFolder
from llmrelay.metering.tokens import DeliveredTokens, TokenCounter
from llmrelay.protocol.errors import RelayError, internal_error
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import ChunkStream, upstream_timeout

log = logging.getLogger("llmrelay.stream")


class UsageEstimate:
    """The relay's own count, for when the upstream reports none (or the client left early):
    the prompt counted at the end, the delivered text counted as it streams."""

    def __init__(self, counter: TokenCounter, messages: list[dict[str, Any]]) -> None:
        self.counter = counter
        self.messages = messages
        self.delivered = DeliveredTokens(counter)

    def usage(self) -> Usage:
        return Usage(self.counter.count_messages(self.messages), self.delivered.tokens)


class ChunkShaper:
    """Rewrites upstream chunks into the client's stream; remembers usage as it passes."""

    def __init__(
        self,
        public_model: str,
        include_usage: bool,
        think_tags: bool = False,
        estimate: UsageEstimate | None = None,
    ) -> None:
        self.model = public_model
        self.include_usage = include_usage
        self.folder = ThinkTagFolder() if think_tags else None
        self.estimate = estimate
        self.id: str | None = None
        self.created: int | None = None
        self.roles_sent: set[int] = set()
        self.usage: dict[str, Any] | None = None
        self.opening: list[dict[str, Any]] = []

    def shape(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk to send, or None when it only carried usage."""
        if self.id is None:
            self.id = str(chunk.get("id") or "chatcmpl-" + secrets.token_hex(12))
            created = chunk.get("created")
            self.created = created if isinstance(created, int) else int(time.time())
        usage = chunk.pop("usage", None)
        if isinstance(usage, dict):
            self.usage = usage
        choices = chunk.get("choices")
        if not choices:
            return None
        for choice in choices:
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                choice["delta"] = delta = {}
            index = choice.get("index", 0)
            if index in self.roles_sent:
                delta.pop("role", None)
            else:
                self._open_choice(index, delta)
            choice.setdefault("finish_reason", None)
            if self.estimate is not None:
                self.estimate.delivered.add_delta(delta)
            if self.folder is not None:
                self.folder.fold(choice)
        chunk["id"] = self.id
        chunk["object"] = "chat.completion.chunk"
        chunk["created"] = self.created
        chunk["model"] = self.model
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _open_choice(self, index: int, delta: dict[str, Any]) -> None:
        """A choice's first delta names the role and carries nothing else, as OpenAI's does:
        an upstream whose first delta already carries a token gets a role-only delta sent
        before it (clients that skip the first chunk would lose that token)."""
        self.roles_sent.add(index)
        if any(value for name, value in delta.items() if name != "role"):
            delta.pop("role", None)
            opening = {"role": "assistant", "content": ""}
            self.opening.append(
                {"index": index, "delta": opening, "logprobs": None, "finish_reason": None}
            )
        else:
            delta["role"] = "assistant"

    def opening_chunk(self) -> dict[str, Any]:
        """The role-only chunk owed before the chunk just shaped (see `_open_choice`)."""
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": self.opening,
        }
        if self.include_usage:
            chunk["usage"] = None
        self.opening = []
        return chunk

    def final_usage(self) -> tuple[Usage | None, bool]:
        """The stream's usage, and whether the relay had to count it itself."""
        reported = Usage.from_openai(self.usage)
        if reported is not None or self.estimate is None:
            return reported, False
        usage = self.estimate.usage()
        self.usage = usage.to_openai()
        return usage, True

    def usage_chunk(self) -> dict[str, Any] | None:
        if not self.include_usage or self.usage is None:
            return None
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": self.usage,
        }


class KeepAlive:
    """Sends `: ping` whenever the stream has been silent for `interval` seconds, and, once
    `guard` is called, ends a stream whose client stopped reading.

    A client that never reads fills the socket's buffers, and the next write to it waits for
    ever, holding the upstream connection with it. A write that has waited `write_timeout`
    seconds, or one still waiting when the exchange reaches its `deadline`, gets the client
    connection aborted: the request then ends as a disconnect, its upstream stream is
    released and it is billed for what was delivered."""

    def __init__(self, send: Any, interval: float) -> None:
        self.send = send
        self.interval = interval
        self.last_sent = time.monotonic()
        self.sending_since: float | None = None
        """When the write under way began (None: no write under way)."""
        self.write_timeout = math.inf
        self.deadline = math.inf
        self.abandon: Callable[[str], None] | None = None
        self.task: asyncio.Task[None] | None = None
        if interval > 0:
            self.task = asyncio.create_task(self._run())

    def guard(self, write_timeout: float, deadline: float, abandon: Callable[[str], None]) -> None:
        self.write_timeout, self.deadline, self.abandon = write_timeout, deadline, abandon
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    def _wake_at(self) -> float:
        if self.sending_since is None:
            return self.last_sent + self.interval if self.interval > 0 else math.inf
        return min(self.sending_since + self.write_timeout, self.deadline)

    async def _run(self) -> None:
        while True:
            wake_at = self._wake_at()
            if wake_at == math.inf:
                wake_at = time.monotonic() + 1.0
            await asyncio.sleep(max(0.0, wake_at - time.monotonic()))
            now = time.monotonic()
            if self.sending_since is not None:
                if self.abandon is not None and (
                    now - self.sending_since >= self.write_timeout or now >= self.deadline
                ):
                    self.abandon("client_write_timeout")
                    return
            elif self.interval > 0 and now - self.last_sent >= self.interval:
                self.sending_since = now
                await self.send({"type": "http.response.body", "body": PING, "more_body": True})
                self.sending_since = None
                self.last_sent = time.monotonic()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def relay_stream(
    stream: ChunkStream,
    send: Any,
    exchange: Exchange,
    shaper: ChunkShaper,
    keepalive: KeepAlive,
) -> RelayError | None:
    """Pump `stream` to the client; the response has been started (status 200) already,
    and `keepalive` has been pinging since.

    Returns the error that cut the stream, if one did (the client got it as an SSE frame)."""
    error: RelayError | None = None
    try:
        async for batch in stream.batches():
            frames = [data_frame(shaped) for chunk in batch if (shaped := shaper.shape(chunk))]
            if not frames:
                continue
            if shaper.opening:
                frames.insert(0, data_frame(shaper.opening_chunk()))
            exchange.mark_first_token()
            body = frames[0] if len(frames) == 1 else b"".join(frames)
            keepalive.sending_since = time.monotonic()
            await send({"type": "http.response.body", "body": body, "more_body": True})
            keepalive.sending_since = None
            keepalive.last_sent = time.monotonic()
    except RelayError as exc:
        error = exc
    except Exception:  # a bug or an upstream shape no translator expected: still end cleanly
        log.exception("stream %s failed", exchange.request_id)
        error = internal_error()
    finally:
        await keepalive.stop()
        await stream.aclose()
        exchange.usage, exchange.usage_estimated = shaper.final_usage()
    exchange.finished = True
    if error is not None:
        exchange.fail(error)
        tail = data_frame(error.body())
    else:
        usage_chunk = shaper.usage_chunk()
        tail = (data_frame(usage_chunk) if usage_chunk else b"") + DONE
    await send({"type": "http.response.body", "body": tail, "more_body": False})
    return error


def carries_token(chunks: list[dict[str, Any]]) -> bool:
    """Some choice has a finish reason or a delta with anything but its role: a first token.
    (A role-only chunk, or a usage chunk, is not one.)"""
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if choice.get("finish_reason") or (
                isinstance(delta, dict) and any(v for k, v in delta.items() if k != "role")
            ):
                return True
    return False


class PrimedStream(ChunkStream):
    """A stream whose first token has arrived: until then nothing but `: ping` comments has
    reached the client, so a deployment that accepted the request and then said nothing (or
    only its role) can still be swapped for another without the client noticing."""

    def __init__(self, inner: ChunkStream) -> None:
        self.inner = inner
        self._batches = inner.batches().__aiter__()
        self._first: list[dict[str, Any]] | None = None

    async def prime(self, first_token: float, provider: str) -> None:
        """Read, within `first_token`, up to the first batch that carries a token (or the
        end); the chunks read so far are sent first, together."""
        first: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(first_token):
                while not carries_token(first):
                    first.extend(await anext(self._batches))
        except TimeoutError:
            raise upstream_timeout(provider, "no first token in time") from None
        except StopAsyncIteration:
            pass
        self._first = first

    @property
    def first_batch(self) -> list[dict[str, Any]]:
        """What arrived up to the first token (the router looks for a content filter's bare
        refusal there)."""
        return self._first or []

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        if self._first:
            yield self._first
        async for batch in self._batches:
            yield batch

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for chunk in batch:
                yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()
