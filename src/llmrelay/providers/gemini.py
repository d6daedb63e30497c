"""Google's Gemini API: `generateContent`, `streamGenerateContent?alt=sse` and
`batchEmbedContents` (https://ai.google.dev/api/embeddings#method:-models.batchembedcontents).

The request is translated by `gemini_request` (image URLs fetched and inlined through the
relay's SSRF-guarded ImageFetcher), whole answers by `gemini_response`, streams by
`gemini_stream`. The key goes in `x-goog-api-key`, never in the URL, so it cannot leak into
logs of URLs; error texts are scrubbed of it all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from llmrelay.config import GeminiProvider as GeminiProviderConfig
from llmrelay.config import ImagesConfig
from llmrelay.protocol.embeddings import embedding_texts, requested_dimensions
from llmrelay.providers.base import ChunkStream, UpstreamCall, UpstreamError
from llmrelay.providers.direct_answer import post_json
from llmrelay.providers.direct_chunks import DirectChunks, open_chunks
from llmrelay.providers.gemini_request import build_body
from llmrelay.providers.gemini_response import completion_from, map_gemini_error
from llmrelay.providers.gemini_stream import GeminiEvents
from llmrelay.providers.http_upstream import HttpProvider
from llmrelay.providers.images import ImageFetcher


class GeminiProvider(HttpProvider):
    kind = "gemini"
    uses_image_fetcher = True

    def __init__(
        self, name: str, config: GeminiProviderConfig, images: ImageFetcher | None = None
    ) -> None:
        super().__init__(name, config, key_header="x-goog-api-key")
        self.config: GeminiProviderConfig = config
        self.base_url = config.base_url.rstrip("/")
        self._owns_images = images is None
        self.images = images if images is not None else ImageFetcher(ImagesConfig())

    async def close(self) -> None:
        await super().close()
        if self._owns_images:
            await self.images.close()

    def url(self, model: str, stream: bool, method: str = "generateContent") -> str:
        name = quote(model.removeprefix("models/"), safe="/")
        if stream:
            return f"{self.base_url}/models/{name}:streamGenerateContent?alt=sse"
        return f"{self.base_url}/models/{name}:{method}"

    def error_for(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return map_gemini_error(self.name, status, raw, headers, self.scrubber)

    async def _payload(self, call: UpstreamCall) -> bytes:
        return orjson.dumps(await build_body(call, self.images))

    async def complete(self, call: UpstreamCall) -> dict[str, Any]:
        payload = await self._payload(call)
        body = await post_json(self, self.url(call.upstream_model, False), payload, call)
        if not isinstance(body, dict):
            raise self.malformed("an unexpected response")
        return completion_from(body, call.upstream_model)

    async def open_stream(self, call: UpstreamCall) -> ChunkStream | DirectChunks:
        payload = await self._payload(call)
        url = self.url(call.upstream_model, True)
        return await open_chunks(self, url, payload, call, GeminiEvents(self, call.upstream_model))

    async def embed(self, call: UpstreamCall) -> dict[str, Any]:
        """`batchEmbedContents`, one request per text; Gemini reports no usage, so the relay
        counts the input itself."""
        name = "models/" + call.upstream_model.removeprefix("models/")
        dimensions = requested_dimensions(call.request)
        requests = []
        for text in embedding_texts(call.request):
            request: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                request["outputDimensionality"] = dimensions
            requests.append(request)
        url = self.url(call.upstream_model, False, "batchEmbedContents")
        body = await post_json(self, url, orjson.dumps({"requests": requests}), call)
        embeddings = body.get("embeddings") if isinstance(body, dict) else None
        if not isinstance(embeddings, list) or len(embeddings) != len(requests):
            raise self.malformed("an unexpected embeddings response")
        data = []
        for index, embedding in enumerate(embeddings):
            values = embedding.get("values") if isinstance(embedding, dict) else None
            if not isinstance(values, list):
                raise self.malformed("an embedding without values")
            data.append({"index": index, "embedding": values})
        return {"data": data}
