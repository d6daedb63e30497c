"""The embedded local model as a Provider: a fair, bounded queue in front of one engine thread.

Requests run one at a time in arrival order on a single worker thread (llama.cpp releases the
GIL while it computes, so the event loop keeps serving everything else). When `queue_size`
requests are already waiting, the next one is refused at once with 429 and `Retry-After`.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llmrelay.config import LocalProvider as LocalProviderConfig
from llmrelay.protocol.errors import invalid_request
from llmrelay.protocol.request import ChatRequest
from llmrelay.providers.base import ChunkStream, Provider, UpstreamCall, UpstreamError
from llmrelay.providers.local_engine import (
    GenerationResult,
    LocalEngine,
    PromptTooLong,
    SamplingParams,
)

UNSUPPORTED_PARAMS = ("tools", "functions", "logprobs", "audio")


def _text_of(content: Any, param: str) -> str:
    if isinstance(content, str) or content is None:
        return content or ""
    pieces = []
    for i, part in enumerate(content):
        kind = part.get("type")
        if kind in ("text", "refusal"):
            pieces.append(part.get("text") or part.get("refusal") or "")
        else:
            raise invalid_request(
                f"This model accepts text only; '{kind}' content is not supported.",
                param=f"{param}[{i}]",
                code="unsupported_content",
            )
    return "".join(pieces)


def chat_messages(request: ChatRequest) -> list[dict[str, str]]:
    """The conversation as the chat template wants it: plain-text role/content pairs."""
    messages = []
    for i, message in enumerate(request.messages):
        role = message["role"]
        role = "system" if role == "developer" else role
        text = _text_of(message.get("content"), f"messages[{i}].content")
        messages.append({"role": role, "content": text})
    return messages


def sampling_params(request: ChatRequest, default_max_tokens: int) -> SamplingParams:
    body = request.body
    for name in UNSUPPORTED_PARAMS:
        if body.get(name):
            raise invalid_request(
                f"The local model does not support '{name}'.",
                param=name,
                code="unsupported_parameter",
            )
    if request.n != 1:
        raise invalid_request(
            "The local model returns one choice: 'n' must be 1.",
            param="n",
            code="unsupported_parameter",
        )
    seed = body.get("seed")
    return SamplingParams(
        max_tokens=request.max_tokens or default_max_tokens,
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        stop=tuple(request.stop),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        presence_penalty=float(body.get("presence_penalty") or 0.0),
        frequency_penalty=float(body.get("frequency_penalty") or 0.0),
    )


class _Generation:
    """One queued or running generation; the engine thread feeds `queue` via the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[str | GenerationResult | BaseException] = asyncio.Queue()
        self.cancelled = threading.Event()

    def emit(self, item: str | GenerationResult | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class LocalModelProvider(Provider):
    kind = "local"
    takes_tools = False  # UNSUPPORTED_PARAMS
    takes_images = False  # `_text_of`

    def __init__(self, name: str, config: LocalProviderConfig) -> None:
        super().__init__(name)
        self.config = config
        self.engine = LocalEngine(
            config.model_path, config.context_size, config.threads, config.batch_size, config.nice
        )
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llm-{name}")
        self._in_flight = 0

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._worker, self.engine.load)

    async def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self.engine.loaded

    def status(self) -> dict[str, Any]:
        return {
            **super().status(),
            "in_flight": self._in_flight,
            "queue_size": self.config.queue_size,
        }

    def _admit(self) -> None:
        if self._in_flight > self.config.queue_size:
            raise UpstreamError(
                429,
                f"The local model is busy: {self.config.queue_size} requests are already "
                "waiting. Retry shortly.",
                type="rate_limit_error",
                code="local_queue_full",
                retry_after=1.0,
                health_failure=False,
            )
        self._in_flight += 1

    def _run(self, generation: _Generation, request: ChatRequest) -> None:
        try:
            if generation.cancelled.is_set():
                return
            result = self.engine.generate(
                chat_messages(request),
                sampling_params(request, self.config.max_tokens_default),
                generation.emit,
                generation.cancelled,
            )
            generation.emit(result)
        except PromptTooLong as exc:
            generation.emit(
                invalid_request(str(exc), param="messages", code="context_length_exceeded")
            )
        except BaseException as exc:  # reported to the waiting request, not lost in a thread
            generation.emit(exc)

    async def _launch(self, call: UpstreamCall) -> _Generation:
        messages = chat_messages(call.request)
        sampling_params(call.request, self.config.max_tokens_default)
        await self._check_fits(messages)
        self._admit()
        generation = _Generation(asyncio.get_running_loop())
        future = self._worker.submit(self._run, generation, call.request)
        future.add_done_callback(lambda _: generation.loop.call_soon_threadsafe(self._release))
        return generation

    def _release(self) -> None:
        self._in_flight -= 1

    async def _check_fits(self, messages: list[dict[str, str]]) -> None:
        """A prompt longer than the context is a 400 now, before any stream starts.

        Tokenizing reads only the vocabulary, so it runs on a thread of its own, beside a
        generation that may be under way on the engine's thread."""
        prompt, _ = await asyncio.to_thread(self.engine.prompt_tokens, messages)
        if len(prompt) >= self.engine.context_size:
            error = PromptTooLong(len(prompt), self.engine.context_size)
            raise invalid_request(str(error), param="messages", code="context_length_exceeded")

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        stream = _LocalChunkStream(await self._launch(call), call.upstream_model)
        pieces: list[str] = []
        try:
            async for chunk in stream:
                delta = chunk["choices"][0]["delta"] if chunk["choices"] else {}
                pieces.append(delta.get("content") or "")
        finally:
            await stream.aclose()
        result = stream.result
        assert result is not None
        return {
            "id": stream.id,
            "object": "chat.completion",
            "created": stream.created,
            "model": call.upstream_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(pieces), "refusal": None},
                    "logprobs": None,
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": _usage(result),
        }

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        return _LocalChunkStream(await self._launch(call), call.upstream_model)


def _usage(result: GenerationResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


class _LocalChunkStream(ChunkStream):
    def __init__(self, generation: _Generation, model: str) -> None:
        self.generation = generation
        self.model = model
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.result: GenerationResult | None = None

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        first = True
        while True:
            item = await self.generation.queue.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, GenerationResult):
                break
            delta = {"role": "assistant", "content": item} if first else {"content": item}
            first = False
            yield self._chunk(delta)
        self.result = item
        if first:
            yield self._chunk({"role": "assistant", "content": ""})
        yield self._chunk({}, item.finish_reason)
        usage = self._chunk({})
        usage["choices"] = []
        usage["usage"] = _usage(item)
        yield usage

    async def aclose(self) -> None:
        self.generation.cancelled.set()
