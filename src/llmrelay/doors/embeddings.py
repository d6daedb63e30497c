"""The OpenAI Embeddings door: `POST /v1/embeddings`.

Every upstream that can embed does (`Provider.embed`): an OpenAI-compatible one is passed the
client's body, Gemini's `batchEmbedContents` and the embedded model are asked for the texts.
The answer goes out in the encoding the client asked for, whatever the upstream sent, and the
usage is the input's tokens only (billed at the model's `price.input`). See docs/embeddings.md.
"""

from __future__ import annotations

from typing import Any

from llmrelay.doors.base import Door, Inbound, StreamEncoder
from llmrelay.protocol.embeddings import embedding_request_from, encoded
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import Provider, UpstreamCall


class EmbeddingsDoor(Door):
    endpoint = "embeddings"
    protocol = "openai-embeddings"

    def parse(self, body: dict[str, Any]) -> Inbound:
        request = embedding_request_from(body)
        return Inbound(request, state=body.get("encoding_format") or "float")

    async def call_upstream(self, provider: Provider, call: UpstreamCall) -> dict[str, Any]:
        return await provider.embed(call)

    def render(self, inbound: Inbound, answer: dict[str, Any], usage: Usage) -> dict[str, Any]:
        encoding = inbound.state
        data = [
            {
                "object": "embedding",
                "index": item.get("index", i),
                "embedding": encoded(item["embedding"], encoding),
            }
            for i, item in enumerate(answer["data"])
        ]
        return {
            "object": "list",
            "data": data,
            "model": inbound.request.model,
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
        }

    def encoder(self, inbound: Inbound) -> StreamEncoder:
        raise AssertionError("embeddings are never streamed")  # parse sets stream=False

    def error_body(self, error: RelayError) -> bytes:
        return error.json()
