"""Anthropic's named SSE events -> OpenAI `chat.completion.chunk`s, as they arrive (§3.6).

- `message_start` gives the first chunk (`role: assistant`); `ping` gives nothing.
- Text deltas become `delta.content`, thinking deltas `delta.reasoning_content`.
- Each `tool_use` block becomes one tool call whose `index` counts tool calls (not Anthropic's
  block index): `id` and `name` in its first fragment only, then argument fragments; a call
  with no input gets `"{}"`. In JSON mode the forced tool's input streams as `delta.content`.
- Finished thinking blocks, with their signatures, are sent once, together, as
  `delta.thinking_blocks` in the chunk just before the finishing one (`delta: {}` plus the
  mapped `finish_reason`). `message_stop` adds the `choices: []` usage chunk and ends it.
- `event: error` raises; a stream that ends before `message_stop` was cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmrelay.providers.anthropic_request import JSON_TOOL
from llmrelay.providers.anthropic_response import (
    finish_reason,
    openai_usage,
    stream_error,
    thinking_block,
    tool_arguments,
)
from llmrelay.providers.http_upstream import (
    ChunkEvents,
    HttpProvider,
    decode_json_event,
)
from llmrelay.providers.sse_reader import SSEEvent

Chunks = list[dict[str, Any]]


@dataclass(slots=True)
class _Block:
    kind: str
    """text | thinking | redacted_thinking | tool | json | other"""
    tool_index: int = 0
    has_input: bool = False
    thinking: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""


class AnthropicEvents(ChunkEvents):
    def __init__(self, provider: HttpProvider, json_mode: bool) -> None:
        self.provider = provider
        self.json_mode = json_mode
        self.id = "chatcmpl-anthropic"
        self.model = ""
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self.blocks: dict[int, _Block] = {}
        self.tool_calls = 0
        self.json_answer = False
        self.thinking_blocks: list[dict[str, Any]] = []
        self.thinking_chars = 0
        self.finished = False
        self._handlers: dict[str, Callable[[dict[str, Any]], Chunks]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    def translate(self, event: SSEEvent) -> Chunks:
        data = decode_json_event(self.provider, event.data)
        handler = self._handlers.get(event.event or data.get("type") or "")
        return handler(data) if handler is not None else []

    def _tool_delta(self, block: _Block, function: dict[str, Any], **first: Any) -> Chunks:
        call = {"index": block.tool_index, **first, "function": function}
        return [self._chunk({"tool_calls": [call]})]

    # ---- events ------------------------------------------------------------------------

    def _message_start(self, data: dict[str, Any]) -> Chunks:
        message = data.get("message") or {}
        if message.get("id"):
            self.id = f"chatcmpl-{message['id']}"
        self.model = message.get("model") or ""
        self.usage.update(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": None})]

    def _block_start(self, data: dict[str, Any]) -> Chunks:
        start = data.get("content_block") or {}
        kind = start.get("type")
        if kind == "tool_use":
            return self._tool_start(data.get("index"), start)
        if kind in ("text", "thinking", "redacted_thinking"):
            block = _Block(kind, signature=start.get("signature") or "")
            block.data = start.get("data") or ""
        else:
            block = _Block("other")
        self.blocks[data.get("index")] = block
        if kind == "text" and start.get("text"):
            return [self._chunk({"content": start["text"]})]
        if kind == "thinking" and start.get("thinking"):
            return self._thinking(block, start["thinking"])
        return []

    def _tool_start(self, index: Any, start: dict[str, Any]) -> Chunks:
        if self.json_mode and start.get("name") == JSON_TOOL:
            self.json_answer = True
            self.blocks[index] = _Block("json")
            return []
        block = self.blocks[index] = _Block("tool", tool_index=self.tool_calls)
        self.tool_calls += 1
        function = {"name": start.get("name"), "arguments": ""}
        chunks = self._tool_delta(block, function, id=start.get("id"), type="function")
        if start.get("input"):
            block.has_input = True
            chunks += self._tool_delta(block, {"arguments": tool_arguments(start["input"])})
        return chunks

    def _thinking(self, block: _Block, text: str) -> Chunks:
        block.thinking.append(text)
        self.thinking_chars += len(text)
        return [self._chunk({"reasoning_content": text})]

    def _block_delta(self, data: dict[str, Any]) -> Chunks:
        block = self.blocks.get(data.get("index"))
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if block is None:
            return []
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            return self._thinking(block, delta["thinking"])
        if kind == "signature_delta":
            block.signature += delta.get("signature") or ""
        elif kind == "input_json_delta" and delta.get("partial_json"):
            return self._input(block, delta["partial_json"])
        return []

    def _input(self, block: _Block, fragment: str) -> Chunks:
        block.has_input = True
        if block.kind == "json":
            return [self._chunk({"content": fragment})]
        if block.kind == "tool":
            return self._tool_delta(block, {"arguments": fragment})
        return []

    def _block_stop(self, data: dict[str, Any]) -> Chunks:
        block = self.blocks.pop(data.get("index"), None)
        if block is None:
            return []
        if block.kind == "thinking":
            text = "".join(block.thinking)
            self.thinking_blocks.append(
                thinking_block({"type": "thinking", "thinking": text, "signature": block.signature})
            )
        elif block.kind == "redacted_thinking":
            self.thinking_blocks.append(thinking_block({"type": block.kind, "data": block.data}))
        elif not block.has_input and block.kind in ("tool", "json"):
            return self._input(block, "{}")
        return []

    def _message_delta(self, data: dict[str, Any]) -> Chunks:
        self.usage.update(data.get("usage") or {})
        stop_reason = (data.get("delta") or {}).get("stop_reason")
        return self._finish(stop_reason)

    def _finish(self, stop_reason: Any) -> Chunks:
        if self.finished:
            return []
        self.finished = True
        chunks = []
        if self.thinking_blocks:
            chunks.append(self._chunk({"thinking_blocks": self.thinking_blocks}))
        json_answer = self.json_answer and self.tool_calls == 0
        chunks.append(self._chunk({}, finish_reason(stop_reason, json_answer)))
        return chunks

    def _message_stop(self, data: dict[str, Any]) -> Chunks:
        self.done = True
        chunks = self._finish(None)
        usage = openai_usage(self.usage, self.thinking_chars)
        chunks.append({**self._chunk({}), "choices": [], "usage": usage})
        return chunks

    def _error(self, data: dict[str, Any]) -> Chunks:
        raise stream_error(self.provider.name, data, self.provider.scrubber)
