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
from typing import Any

from llmrelay.config import LocalProvider as LocalProviderConfig
from llmrelay.protocol.errors import invalid_request
from llmrelay.protocol.request import ChatRequest
from llmrelay.providers.base import ChunkStream, UpstreamCall
from llmrelay.providers.engine_worker import EngineProvider
from llmrelay.providers.local_engine import (
    Emitted,
    GenerationResult,
    LocalEngine,
    Piece,
    Prompt,
    PromptTooLong,
    SamplingParams,
)
from llmrelay.providers.local_params import raw_prompt, sampling_params


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


class _Generation:
    """One queued or running generation; the engine thread feeds `queue` via the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Emitted | GenerationResult | BaseException] = asyncio.Queue()
        self.cancelled = threading.Event()

    def emit(self, item: Emitted | GenerationResult | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class LocalModelProvider(EngineProvider):
    kind = "local"
    takes_tools = False  # UNSUPPORTED_PARAMS
    takes_images = False  # `_text_of`

    def __init__(self, name: str, config: LocalProviderConfig) -> None:
        engine = LocalEngine(
            config.model_path, config.context_size, config.threads, config.batch_size, config.nice
        )
        super().__init__(name, engine, config.queue_size, f"llm-{name}")
        self.config = config
        self.engine: LocalEngine = engine

    def _run(self, generation: _Generation, messages: Prompt, params: SamplingParams) -> None:
        try:
            if generation.cancelled.is_set():
                return
            result = self.engine.generate(messages, params, generation.emit, generation.cancelled)
            generation.emit(result)
        except PromptTooLong as exc:
            generation.emit(
                invalid_request(str(exc), param="messages", code="context_length_exceeded")
            )
        except BaseException as exc:  # reported to the waiting request, not lost in a thread
            generation.emit(exc)

    async def _launch(self, call: UpstreamCall, raw: bool = False) -> _Generation:
        """Queue the generation; `raw`: the prompt is a legacy completion's text, no chat."""
        messages, params = await asyncio.to_thread(
            self._prepare, call.request, call.max_tokens, raw
        )
        self._admit()
        generation = _Generation(asyncio.get_running_loop())
        future = self._worker.submit(self._run, generation, messages, params)
        future.add_done_callback(lambda _: generation.loop.call_soon_threadsafe(self._release))
        return generation

    def _release(self) -> None:
        self._in_flight -= 1

    def _prepare(
        self, request: ChatRequest, max_tokens: int | None, raw: bool = False
    ) -> tuple[Prompt, SamplingParams]:
        """Everything wrong with a request is a 400 now, before any stream starts: its
        parameters, a prompt longer than the context, a logit_bias key that is no token, a
        schema llama.cpp cannot follow.

        This reads only the vocabulary, so it runs on a thread of its own, beside a
        generation that may be under way on the engine's thread."""
        messages: Prompt = raw_prompt(request) if raw else chat_messages(request)
        params = sampling_params(request, max_tokens or self.config.max_tokens_default)
        engine = self.engine
        prompt, _ = engine.prompt_tokens(messages)
        if len(prompt) >= engine.context_size:
            error = PromptTooLong(len(prompt), engine.context_size)
            param = "prompt" if raw else "messages"
            raise invalid_request(str(error), param=param, code="context_length_exceeded")
        unknown = engine.unknown_token(params.logit_bias)
        if unknown is not None:
            raise invalid_request(
                f"Invalid key in 'logit_bias': {unknown} is not a token of this model "
                f"(its ids go from 0 to {engine.n_vocab - 1}).",
                param="logit_bias",
                code="invalid_value",
            )
        if params.grammar is not None and not engine.grammar_compiles(params.grammar):
            raise invalid_request(
                "The local model cannot follow this 'response_format': llama.cpp refused the "
                "grammar made from its schema.",
                param="response_format",
                code="invalid_value",
            )
        return messages, params

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        return await self._whole(call, raw=False)

    async def complete_text(self, call: UpstreamCall) -> dict[str, Any]:
        return await self._whole(call, raw=True)

    async def open_text_stream(self, call: UpstreamCall) -> ChunkStream:
        return _LocalChunkStream(await self._launch(call, raw=True), call.upstream_model)

    async def _whole(self, call: UpstreamCall, raw: bool) -> dict[str, Any]:
        stream = _LocalChunkStream(await self._launch(call, raw), call.upstream_model)
        choices: dict[int, _WholeChoice] = {}
        try:
            async for chunk in stream:
                for choice in chunk["choices"]:
                    choices.setdefault(choice["index"], _WholeChoice()).add(choice)
        finally:
            await stream.aclose()
        result = stream.result
        assert result is not None
        logprobs = call.request.body.get("logprobs") is True
        return {
            "id": stream.id,
            "object": "chat.completion",
            "created": stream.created,
            "model": call.upstream_model,
            "choices": [choices[i].whole(i, logprobs) for i in sorted(choices)],
            "usage": _usage(result),
        }

    async def open_stream(self, call: UpstreamCall) -> ChunkStream:
        return _LocalChunkStream(await self._launch(call), call.upstream_model)


class _WholeChoice:
    """One choice of a whole answer, gathered from its chunks."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.logprobs: list[dict[str, Any]] = []
        self.finish_reason: str | None = None

    def add(self, choice: dict[str, Any]) -> None:
        self.pieces.append(choice["delta"].get("content") or "")
        if choice["logprobs"]:
            self.logprobs.extend(choice["logprobs"]["content"])
        self.finish_reason = choice["finish_reason"] or self.finish_reason

    def whole(self, index: int, logprobs: bool) -> dict[str, Any]:
        content = "".join(self.pieces)
        return {
            "index": index,
            "message": {"role": "assistant", "content": content, "refusal": None},
            "logprobs": {"content": self.logprobs, "refusal": None} if logprobs else None,
            "finish_reason": self.finish_reason,
        }


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

    def _chunk(
        self,
        index: int,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        logprobs: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": None if logprobs is None else {"content": logprobs, "refusal": None},
            "finish_reason": finish_reason,
        }
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        """Each choice begins with a role-only chunk, as OpenAI's streams do."""
        started: set[int] = set()
        while True:
            item = await self.generation.queue.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, GenerationResult):
                break
            if item.index not in started:
                started.add(item.index)
                yield self._chunk(item.index, {"role": "assistant", "content": ""})
            if isinstance(item, Piece):
                yield self._chunk(item.index, {"content": item.text}, logprobs=item.logprobs)
            else:
                yield self._chunk(item.index, {}, item.finish_reason)
        self.result = item
        usage = self._chunk(0, {})
        usage["choices"] = []
        usage["usage"] = _usage(item)
        yield usage

    async def aclose(self) -> None:
        self.generation.cancelled.set()
