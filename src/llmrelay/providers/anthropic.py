"""Anthropic's Messages API (`POST {base_url}/v1/messages`), whole and streamed.

Requests are translated in anthropic_request, whole answers and errors in
anthropic_response, streamed events in anthropic_stream. Image URLs go to Anthropic as URL
sources (it fetches them itself), so this provider never needs the relay's image fetcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llmrelay.config import AnthropicProvider as AnthropicProviderConfig
from llmrelay.config import ModelConfig
from llmrelay.providers.anthropic_request import build_request
from llmrelay.providers.anthropic_response import completion_from_message, map_anthropic_error
from llmrelay.providers.anthropic_stream import AnthropicEvents
from llmrelay.providers.base import ChunkStream, UpstreamCall, UpstreamError
from llmrelay.providers.direct_answer import post_json
from llmrelay.providers.direct_chunks import DirectChunks, open_chunks
from llmrelay.providers.direct_stream import DirectStream
from llmrelay.providers.http_upstream import HttpProvider
from llmrelay.providers.native import NativeRequest, RawStream, complete_native, open_native

MESSAGES = "anthropic-messages"


class AnthropicProvider(HttpProvider):
    kind = "anthropic"

    def __init__(self, name: str, config: AnthropicProviderConfig) -> None:
        super().__init__(
            name,
            config,
            key_header="x-api-key",
            headers={"anthropic-version": config.anthropic_version},
        )
        self.config: AnthropicProviderConfig = config
        base = config.base_url.rstrip("/")
        self.url = base.removesuffix("/v1") + "/v1/messages"

    def error_for(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return map_anthropic_error(self.name, status, raw, headers, self.scrubber)

    def speaks(self, protocol: str, model: ModelConfig) -> bool:
        return protocol == MESSAGES

    async def complete_native(self, call: UpstreamCall, native: NativeRequest) -> dict[str, Any]:
        return await complete_native(self, self.url, call, native)

    async def open_native(
        self, call: UpstreamCall, native: NativeRequest, direct: bool = False
    ) -> RawStream | DirectStream:
        return await open_native(self, self.url, call, native, direct)

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        translated = build_request(call, stream=False)
        answer = await post_json(self, self.url, orjson.dumps(translated.body), call)
        if not isinstance(answer, dict) or not isinstance(answer.get("content"), list):
            raise self.malformed("an unexpected response")
        return completion_from_message(answer, translated.json_mode)

    async def open_stream(self, call: UpstreamCall) -> ChunkStream | DirectChunks:
        translated = build_request(call, stream=True)
        events = AnthropicEvents(self, translated.json_mode)
        return await open_chunks(self, self.url, orjson.dumps(translated.body), call, events)
