"""Any OpenAI-compatible upstream: OpenAI, DeepSeek, Qwen, vLLM, Ollama, llama.cpp's server...

A model with `api: responses` goes to `{base_url}/responses` instead, translated there and
back (openai_responses_request, openai_responses_answer, openai_responses_stream).

The client's body is forwarded as it came, with only `model` replaced by the upstream name
and, when streaming, `stream_options.include_usage` switched on so the ledger gets real
counts (the relay drops that usage chunk again if the client did not ask for it). The same
holds for `/embeddings` and the legacy `/completions` (whose answers are read into the relay's
chat shape, protocol/text_completion).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llmrelay.config import ModelConfig
from llmrelay.config import OpenAIProvider as OpenAIProviderConfig
from llmrelay.protocol.text_completion import chat_from_text, chunk_from_text
from llmrelay.providers.base import ChunkStream, UpstreamCall, UpstreamError
from llmrelay.providers.direct_answer import post_json
from llmrelay.providers.direct_chunks import DirectChunks, open_chunks
from llmrelay.providers.direct_stream import DirectStream
from llmrelay.providers.http_upstream import (
    EventTranslator,
    HttpProvider,
    decode_json_event,
    for_client,
    stream_cut,
)
from llmrelay.providers.native import NativeRequest, RawStream, complete_native, open_native
from llmrelay.providers.openai_reasoning import apply_reasoning, normalise_reasoning
from llmrelay.providers.openai_responses_answer import completion_from_response, failure
from llmrelay.providers.openai_responses_request import responses_body
from llmrelay.providers.openai_responses_stream import ResponsesEvents
from llmrelay.providers.sse_reader import SSEEvent
from llmrelay.providers.upstream_errors import map_openai_error

RESPONSES = "openai-responses"
CAP_FIELDS = ("max_tokens", "max_completion_tokens")


class OpenAICompatibleProvider(HttpProvider):
    kind = "openai"

    def __init__(self, name: str, config: OpenAIProviderConfig) -> None:
        super().__init__(name, config, key_header="authorization", key_prefix="Bearer ")
        self.config: OpenAIProviderConfig = config
        base = config.base_url.rstrip("/")
        self.url = base + "/chat/completions"
        self.embeddings_url = base + "/embeddings"
        self.completions_url = base + "/completions"
        official = "api.openai.com" in config.base_url
        self.max_tokens_field = config.max_tokens_field or (
            "max_completion_tokens" if official else "max_tokens"
        )
        self.responses_url = config.base_url.rstrip("/") + "/responses"
        self.speaks_responses = official if config.responses is None else config.responses

    def speaks(self, protocol: str, model: ModelConfig) -> bool:
        """The Responses API, where the server speaks it or the model lives only there."""
        return protocol == RESPONSES and (self.speaks_responses or model.api == "responses")

    async def complete_native(self, call: UpstreamCall, native: NativeRequest) -> dict[str, Any]:
        return await complete_native(self, self.responses_url, call, native)

    async def open_native(
        self, call: UpstreamCall, native: NativeRequest, direct: bool = False
    ) -> RawStream | DirectStream:
        return await open_native(self, self.responses_url, call, native, direct)

    def error_for(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return map_openai_error(self.name, status, raw, headers, self.scrubber)

    def _payload(self, call: UpstreamCall, stream: bool, cap_field: str | None = None) -> bytes:
        body = dict(call.request.body)
        body["model"] = call.upstream_model
        limit = call.max_tokens
        if limit is not None:
            fields = [name for name in CAP_FIELDS if name in body]
            if not fields or limit != call.request.max_tokens:
                # a cap the relay set (a translated door's, a budget's, max_output_tokens)
                for name in fields or [cap_field or self.max_tokens_field]:
                    body[name] = limit
        if call.reasoning_from_name and call.reasoning is not None:
            apply_reasoning(body, call.reasoning, self.config.reasoning_style)
        if stream:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return orjson.dumps(body)

    async def embed(self, call: UpstreamCall) -> dict[str, Any]:
        body = dict(call.request.body)
        body["model"] = call.upstream_model
        answer = await post_json(self, self.embeddings_url, orjson.dumps(body), call)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list) or not all(
            isinstance(item, dict) and isinstance(item.get("embedding"), list | str)
            for item in data
        ):
            raise self.malformed("an unexpected embeddings response")
        usage = answer.get("usage")
        prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        if isinstance(prompt, int) and not isinstance(prompt, bool):
            answer["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": 0,
                "total_tokens": prompt,
            }
        else:
            answer.pop("usage", None)  # the relay counts the input itself
        return answer

    async def complete_text(self, call: UpstreamCall) -> dict[str, Any]:
        payload = self._payload(call, False, cap_field="max_tokens")
        body = await post_json(self, self.completions_url, payload, call)
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise self.malformed("an unexpected response")
        return chat_from_text(body)

    async def open_text_stream(self, call: UpstreamCall) -> ChunkStream | DirectChunks:
        payload = self._payload(call, True, cap_field="max_tokens")
        return await open_chunks(self, self.completions_url, payload, call, _OpenAITextEvents(self))

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        if call.model.api == "responses":
            return await self._complete_responses(call)
        body = await post_json(self, self.url, self._payload(call, False), call)
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise self.malformed("an unexpected response")
        for choice in body["choices"]:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                normalise_reasoning(choice["message"])
        return body

    async def open_stream(self, call: UpstreamCall) -> ChunkStream | DirectChunks:
        if call.model.api == "responses":
            payload = orjson.dumps(responses_body(call, stream=True))
            return await open_chunks(self, self.responses_url, payload, call, ResponsesEvents(self))
        payload = self._payload(call, True)
        return await open_chunks(self, self.url, payload, call, _OpenAIEvents(self))

    async def _complete_responses(self, call: UpstreamCall) -> dict[str, Any]:
        """A chat request for a model served on the Responses API only (its `api`)."""
        payload = orjson.dumps(responses_body(call, stream=False))
        answer = await post_json(self, self.responses_url, payload, call)
        if not isinstance(answer, dict) or not isinstance(answer.get("output"), list):
            raise self.malformed("an unexpected response")
        if answer.get("status") == "failed":
            raise for_client(failure(self.name, answer.get("error"), self.scrubber), call)
        return completion_from_response(answer)


class _OpenAIEvents(EventTranslator):
    """OpenAI chunks are already chunks: decode, note the finish, normalise reasoning."""

    def __init__(self, provider: OpenAICompatibleProvider) -> None:
        self.provider = provider
        self.finished = False

    def translate(self, event: SSEEvent) -> list[dict[str, Any]]:
        if event.data.startswith("[DONE]"):
            self.done = True
            return []
        chunk = decode_json_event(self.provider, event.data)
        if chunk.get("error"):
            raise self.provider.error_for(502, orjson.dumps(chunk), {})
        chunk = self.shape(chunk)
        choices = chunk.get("choices") or []
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            raise self.provider.malformed("a stream event whose choices are not objects")
        for choice in choices:
            if choice.get("finish_reason"):
                self.finished = True
            delta = choice.get("delta")
            if delta and "reasoning" in delta:
                normalise_reasoning(delta)
        return [chunk]

    def shape(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """The chunk in the relay's chat shape (OpenAI chat chunks already are)."""
        return chunk

    def finish(self) -> list[dict[str, Any]]:
        if not self.finished:
            raise stream_cut(self.provider.name)
        return []


class _OpenAITextEvents(_OpenAIEvents):
    """Legacy completion frames, read into chat chunks."""

    def shape(self, chunk: dict[str, Any]) -> dict[str, Any]:
        return chunk_from_text(chunk)
