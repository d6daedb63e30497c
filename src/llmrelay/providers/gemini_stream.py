"""Gemini's `streamGenerateContent?alt=sse` frames -> OpenAI `chat.completion.chunk`s.

Every SSE frame is a whole `GenerateContentResponse` holding only the new parts; there are no
event names and no `[DONE]`: the stream ends when the connection closes, and the last frame of
each candidate carries its `finishReason`. `usageMetadata` is cumulative, so the last one wins
and goes out once, at the end, in a `choices: []` chunk. A frame `{"error": {...}}` raises
the mapped error; a close before every candidate finished is a cut stream.

Per frame and candidate the chunks come in a fixed order: thinking (`reasoning_content`),
answer text, whole tool calls (one delta each, `index` counted over the stream's calls), then
the finish. A thought signature on a text part is sent once, just before the finish, so an
accumulating client ends with exactly what the non-streamed message carries.
"""

from __future__ import annotations

import time
from typing import Any

from llmrelay.providers.gemini_response import (
    finish_reason,
    logprobs_from,
    read_parts,
    response_id,
    signature_extra,
    tool_call_from,
    usage_from,
)
from llmrelay.providers.http_upstream import (
    EventTranslator,
    HttpProvider,
    decode_json_event,
    stream_cut,
)
from llmrelay.providers.sse_reader import SSEEvent


class GeminiEvents(EventTranslator):
    def __init__(self, provider: HttpProvider, model: str) -> None:
        self.provider = provider
        self.model = model
        self.id: str | None = None
        self.created = int(time.time())
        self.tool_calls: dict[int, int] = {}
        """Per choice index: how many tool calls were sent so far (the next call's index)."""
        self.signatures: dict[int, str] = {}
        self.seen: set[int] = set()
        self.finished: set[int] = set()
        self.usage: dict[str, Any] | None = None

    def translate(self, event: SSEEvent) -> list[dict[str, Any]]:
        frame = decode_json_event(self.provider, event.data)
        error = frame.get("error")
        if error:
            status = error.get("code") if isinstance(error, dict) else None
            status = status if isinstance(status, int) and status >= 400 else 500
            raise self.provider.error_for(status, event.data.encode(), {})
        if self.id is None:
            self.id = response_id(frame)
        usage = usage_from(frame.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        candidates = [c for c in frame.get("candidates") or () if isinstance(c, dict)]
        chunks: list[dict[str, Any]] = []
        for position, candidate in enumerate(candidates):
            chunks.extend(self._candidate(candidate, position))
        feedback = frame.get("promptFeedback")
        if not candidates and isinstance(feedback, dict) and feedback.get("blockReason"):
            self.seen.add(0)
            self.finished.add(0)
            chunks.append(self._chunk(0, {}, "content_filter"))
        return chunks

    def finish(self) -> list[dict[str, Any]]:
        if not self.finished or self.seen - self.finished:
            raise stream_cut(self.provider.name)
        if self.usage is None:
            return []
        return [{**self._base(), "choices": [], "usage": self.usage}]

    def _candidate(self, candidate: dict[str, Any], position: int) -> list[dict[str, Any]]:
        index = candidate.get("index", position)
        self.seen.add(index)
        pieces = read_parts(candidate)
        deltas: list[dict[str, Any]] = []
        if pieces.reasoning:
            deltas.append({"reasoning_content": "".join(pieces.reasoning)})
        if pieces.text:
            deltas.append({"content": "".join(pieces.text)})
        if pieces.calls:
            deltas.append({"tool_calls": [self._tool_call(index, part) for part in pieces.calls]})
        if pieces.signature:
            self.signatures[index] = pieces.signature
        chunks = [self._chunk(index, delta) for delta in deltas]
        reason = candidate.get("finishReason")
        if reason:
            chunks.extend(self._finish(index, reason))
        logprobs = logprobs_from(candidate.get("logprobsResult"))
        if logprobs is not None and chunks:
            chunks[0]["choices"][0]["logprobs"] = logprobs
        return chunks

    def _tool_call(self, index: int, part: dict[str, Any]) -> dict[str, Any]:
        position = self.tool_calls.get(index, 0)
        self.tool_calls[index] = position + 1
        return tool_call_from(part, position)

    def _finish(self, index: int, reason: str) -> list[dict[str, Any]]:
        self.finished.add(index)
        chunks = []
        signature = self.signatures.pop(index, None)
        if signature:
            chunks.append(self._chunk(index, {"extra_content": signature_extra(signature)}))
        mapped = finish_reason(reason, self.tool_calls.get(index, 0) > 0)
        chunks.append(self._chunk(index, {}, mapped))
        return chunks

    def _base(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _chunk(
        self, index: int, delta: dict[str, Any], finish: str | None = None
    ) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base(), "choices": [choice]}
