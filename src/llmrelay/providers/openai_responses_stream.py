"""OpenAI Responses stream events -> the relay's `chat.completion.chunk`s, as they arrive
(https://platform.openai.com/docs/api-reference/responses-streaming).

- `response.created` gives the first chunk (`role: assistant`).
- `response.output_text.delta` becomes `delta.content`, `response.refusal.delta`
  `delta.refusal`, reasoning summary (or reasoning text) deltas `delta.reasoning_content`.
- A `function_call` item's `response.output_item.added` opens one tool call (its `call_id`
  and name, `index` counting tool calls); its `response.function_call_arguments.delta`s are
  the call's argument fragments.
- `response.completed` / `response.incomplete` give the finishing chunk and the `choices: []`
  usage chunk, and end the stream; `response.failed` and `error` raise. A stream that ends
  before its final event was cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from llmrelay.providers.http_upstream import (
    ChunkEvents,
    HttpProvider,
    decode_json_event,
)
from llmrelay.providers.openai_responses_answer import chat_usage, failure, finish_reason
from llmrelay.providers.sse_reader import SSEEvent

Chunks = list[dict[str, Any]]
REASONING_DELTAS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")


class ResponsesEvents(ChunkEvents):
    def __init__(self, provider: HttpProvider) -> None:
        self.provider = provider
        self.id = "chatcmpl-responses"
        self.model = ""
        self.created = int(time.time())
        self.started = False
        self.tool_calls: dict[str, int] = {}
        """A function call item's id (and output index) -> its tool call's index."""
        self._handlers: dict[str, Callable[[dict[str, Any]], Chunks]] = {
            "response.created": self._created,
            "response.output_item.added": self._item_added,
            "response.output_text.delta": self._text,
            "response.refusal.delta": self._refusal,
            "response.function_call_arguments.delta": self._arguments,
            "response.completed": self._completed,
            "response.incomplete": self._completed,
            "response.failed": self._failed,
            "error": self._error,
        }
        for kind in REASONING_DELTAS:
            self._handlers[kind] = self._reasoning

    def translate(self, event: SSEEvent) -> Chunks:
        data = decode_json_event(self.provider, event.data)
        handler = self._handlers.get(data.get("type") or event.event or "")
        return handler(data) if handler is not None else []

    def _delta(self, delta: dict[str, Any]) -> Chunks:
        """`delta`, after the opening chunk if none went out yet."""
        chunks = [] if self.started else self._start({})
        return [*chunks, self._chunk(delta)]

    # ---- events ------------------------------------------------------------------------

    def _start(self, response: dict[str, Any]) -> Chunks:
        if response.get("id"):
            self.id = f"chatcmpl-{response['id']}"
        self.model = response.get("model") or self.model
        if isinstance(response.get("created_at"), int):
            self.created = response["created_at"]
        if self.started:
            return []
        self.started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _created(self, data: dict[str, Any]) -> Chunks:
        response = data.get("response")
        return self._start(response if isinstance(response, dict) else {})

    def _item_added(self, data: dict[str, Any]) -> Chunks:
        item = data.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return []
        index = len(set(self.tool_calls.values()))
        for key in (item.get("id"), data.get("output_index")):
            if key is not None:
                self.tool_calls[str(key)] = index
        function = {"name": item.get("name") or "", "arguments": item.get("arguments") or ""}
        call_id = item.get("call_id") or item.get("id")
        return self._delta(
            {
                "tool_calls": [
                    {"index": index, "id": call_id, "type": "function", "function": function}
                ]
            }
        )

    def _arguments(self, data: dict[str, Any]) -> Chunks:
        index = self.tool_calls.get(str(data.get("item_id")))
        if index is None:
            index = self.tool_calls.get(str(data.get("output_index")))
        if index is None or not data.get("delta"):
            return []
        call = {"index": index, "function": {"arguments": data["delta"]}}
        return self._delta({"tool_calls": [call]})

    def _text(self, data: dict[str, Any]) -> Chunks:
        return self._delta({"content": data["delta"]}) if data.get("delta") else []

    def _refusal(self, data: dict[str, Any]) -> Chunks:
        return self._delta({"refusal": data["delta"]}) if data.get("delta") else []

    def _reasoning(self, data: dict[str, Any]) -> Chunks:
        return self._delta({"reasoning_content": data["delta"]}) if data.get("delta") else []

    def _completed(self, data: dict[str, Any]) -> Chunks:
        response = data.get("response")
        response = response if isinstance(response, dict) else {}
        self.done = True
        chunks = self._start(response)
        chunks.append(self._chunk({}, finish_reason(response, bool(self.tool_calls))))
        usage = chat_usage(response.get("usage"))
        if usage is not None:
            chunks.append({**self._chunk({}), "choices": [], "usage": usage})
        return chunks

    def _failed(self, data: dict[str, Any]) -> Chunks:
        response = data.get("response")
        error = response.get("error") if isinstance(response, dict) else None
        raise failure(self.provider.name, error, self.provider.scrubber)

    def _error(self, data: dict[str, Any]) -> Chunks:
        fields = data.get("error") if isinstance(data.get("error"), dict) else data
        raise failure(self.provider.name, fields, self.provider.scrubber)
