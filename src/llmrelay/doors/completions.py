"""The legacy OpenAI Completions door: `POST /v1/completions`.

OpenAI-compatible upstreams are passed the client's body (only `model` changed); the embedded
model continues the prompt as raw text (no chat template). Anthropic and Gemini have no raw
completion: a 400 names the model. Answers come back as `text_completion` objects, whole or
streamed (the same object per frame, then `data: [DONE]`). See docs/completions.md and
https://platform.openai.com/docs/api-reference/completions.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from llmrelay.doors.base import Door, Inbound, StreamEncoder
from llmrelay.metering.meter import StreamMeter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.legacy_completion import completion_request_from
from llmrelay.protocol.text_completion import text_choice
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import ChunkStream, Provider, UpstreamCall
from llmrelay.providers.direct_chunks import DirectChunks
from llmrelay.wire.sse import DONE, data_frame


def completion_id(upstream_id: Any) -> str:
    """The upstream's id when it is a completion's, else a fresh `cmpl-` one."""
    if isinstance(upstream_id, str) and upstream_id.startswith("cmpl-"):
        return upstream_id
    return "cmpl-" + secrets.token_hex(12)


class CompletionsDoor(Door):
    endpoint = "completions"
    protocol = "openai-completions"

    def parse(self, body: dict[str, Any]) -> Inbound:
        return Inbound(completion_request_from(body))

    async def call_upstream(self, provider: Provider, call: UpstreamCall) -> dict[str, Any]:
        return await provider.complete_text(call)

    async def open_upstream(
        self, provider: Provider, call: UpstreamCall
    ) -> ChunkStream | DirectChunks:
        return await provider.open_text_stream(call)

    def render(self, inbound: Inbound, answer: dict[str, Any], usage: Usage) -> dict[str, Any]:
        choices = [
            text_choice(choice, (choice.get("message") or {}).get("content"))
            for choice in answer.get("choices") or ()
        ]
        rendered = {
            "id": completion_id(answer.get("id")),
            "object": "text_completion",
            "created": answer.get("created") or int(time.time()),
            "model": inbound.request.model,
            "choices": choices,
            "usage": usage.to_openai(),
        }
        if answer.get("system_fingerprint"):
            rendered["system_fingerprint"] = answer["system_fingerprint"]
        return rendered

    def encoder(self, inbound: Inbound) -> StreamEncoder:
        request = inbound.request
        return CompletionStream(request.model, request.include_usage)

    def error_body(self, error: RelayError) -> bytes:
        return error.json()


class CompletionStream(StreamEncoder):
    """The internal chunks as `text_completion` frames, one id and `created` for them all."""

    def __init__(self, public_model: str, include_usage: bool) -> None:
        self.model = public_model
        self.include_usage = include_usage
        self.id: str | None = None
        self.created = int(time.time())

    def _frame(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return data_frame(body)

    def delta(self, chunk: dict[str, Any]) -> bytes:
        if self.id is None:
            self.id = completion_id(chunk.get("id"))
            created = chunk.get("created")
            self.created = created if isinstance(created, int) else self.created
        choices = [
            text_choice(choice, (choice.get("delta") or {}).get("content"))
            for choice in chunk.get("choices") or ()
        ]
        choices = [c for c in choices if c["text"] or c["finish_reason"] or c["logprobs"]]
        return self._frame(choices) if choices else b""

    def end(self, meter: StreamMeter) -> bytes:
        if not self.include_usage or meter.reported is None:
            return DONE
        return self._frame([], usage=meter.reported) + DONE

    def error(self, error: RelayError) -> bytes:
        return data_frame(error.body())
