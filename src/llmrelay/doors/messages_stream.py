"""The relay's internal chunks as an Anthropic Messages stream
(https://docs.anthropic.com/en/api/messages-streaming).

`message_start` once, first; then content blocks numbered 0, 1, 2... with one open at a time
(reasoning opens a `thinking` block, the first text closes it and opens a `text` block, each
tool call a `tool_use` block fed with `input_json_delta`s); then `message_delta` with the stop
reason and the usage (input and cache counts included, as they are known only at the end) and
`message_stop`. An error after the start is an `error` event.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from llmrelay.doors import messages_signatures
from llmrelay.doors.base import StreamEncoder
from llmrelay.doors.messages_ids import sanitize_tool_id
from llmrelay.doors.messages_response import anthropic_usage, message_id, stop_reason
from llmrelay.doors.relay_state import Gathered
from llmrelay.metering.meter import StreamMeter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.usage import Usage
from llmrelay.wire.sse import event_frame

log = logging.getLogger("llmrelay.doors.messages")


class MessagesStream(StreamEncoder):
    """Frames for one stream; `error_payload` renders an error in Anthropic's shape."""

    ping = event_frame("ping", {"type": "ping"})

    def __init__(self, model: str, error_payload: Callable[[RelayError], dict[str, Any]]) -> None:
        self.model = model
        self.error_payload = error_payload
        self.next_index = 0
        self.open_kind: str | None = None
        """`thinking`, `text` or `tool_use`: the kind of the block now open (None: none)."""
        self.tool_blocks: dict[int, int] = {}
        """The Anthropic block index of each of the upstream's tool-call indexes."""
        self.open_tool: int | None = None
        """The upstream index of the tool call whose block is open."""
        self.held_calls: dict[int, tuple[dict[str, Any], list[str]]] = {}
        """Tool calls that started while another's block was open: their block and fragments."""
        self.tool_ids: dict[int, str] = {}
        """The tool-use id of each of the upstream's tool-call indexes."""
        self.gathered = Gathered()
        """The upstream's signatures, sent in a last block (messages_signatures.py)."""
        self.used_tools = False
        self.finish_reason: str | None = None

    def begin(self) -> bytes:
        usage = {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        message = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return event_frame("message_start", {"type": "message_start", "message": message})

    def delta(self, chunk: dict[str, Any]) -> bytes:
        out = b""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                out += self._delta(delta)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def end(self, meter: StreamMeter) -> bytes:
        out = self._close() + self._held_calls() + self._signatures()
        usage = Usage.from_openai(meter.reported) or Usage()
        delta = {"stop_reason": stop_reason(self.finish_reason, self.used_tools)}
        delta["stop_sequence"] = None
        message_delta = {"type": "message_delta", "delta": delta, "usage": anthropic_usage(usage)}
        out += event_frame("message_delta", message_delta)
        return out + event_frame("message_stop", {"type": "message_stop"})

    def error(self, error: RelayError) -> bytes:
        return event_frame("error", self.error_payload(error))

    # ---- blocks --------------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any]) -> bytes:
        out = b""
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            out += self._ensure("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out += self._block_delta({"type": "thinking_delta", "thinking": reasoning})
        content = delta.get("content") or delta.get("refusal")
        if isinstance(content, str) and content:
            out += self._ensure("text", {"type": "text", "text": ""})
            out += self._block_delta({"type": "text_delta", "text": content})
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                out += self._tool_fragment(call)
                self.gathered.keep_signature(call, self.tool_ids.get(call.get("index", 0)))
        self.gathered.keep_signature(delta, messages_signatures.TEXT_KEY)
        return out

    def _signatures(self) -> bytes:
        """The upstream's signatures, in a thinking block of their own."""
        if not self.gathered.signatures:
            return b""
        block = messages_signatures.signature_block(self.gathered.signatures)
        signature = block["signature"]
        out = self._open("thinking", {**block, "signature": ""})
        out += self._block_delta({"type": "signature_delta", "signature": signature})
        return out + self._close()

    def _tool_fragment(self, call: dict[str, Any]) -> bytes:
        """A fragment of a tool call. The first call streams as it comes: its first fragment
        (with id and name) opens its block, the others append to its arguments. A call that
        starts while another's block is open is held whole and sent at the end (OpenAI's
        `tool_calls[].index` may interleave calls; Anthropic's blocks cannot)."""
        upstream_index = call.get("index", 0)
        function = call.get("function") or {}
        arguments = function.get("arguments")
        arguments = arguments if isinstance(arguments, str) else ""
        out = b""
        if upstream_index not in self.tool_blocks and upstream_index not in self.held_calls:
            self.used_tools = True
            block = _tool_block(call)
            self.tool_ids[upstream_index] = block["id"]
            if self.open_kind == "tool_use" or self.held_calls:
                self.held_calls[upstream_index] = (block, [arguments])
                return out
            out += self._close()
            self.tool_blocks[upstream_index] = self.next_index
            out += self._open("tool_use", block)
            self.open_tool = upstream_index
        elif upstream_index in self.held_calls:
            self.held_calls[upstream_index][1].append(arguments)
            return out
        elif upstream_index != self.open_tool:
            log.warning("dropped a fragment of tool call %s after its block closed", upstream_index)
            return out
        if arguments:
            out += self._block_delta({"type": "input_json_delta", "partial_json": arguments})
        return out

    def _held_calls(self) -> bytes:
        """The calls held back, each a whole block, in the order they started."""
        out = b""
        for block, pieces in self.held_calls.values():
            out += self._open("tool_use", block)
            arguments = "".join(pieces)
            if arguments:
                out += self._block_delta({"type": "input_json_delta", "partial_json": arguments})
            out += self._close()
        self.held_calls = {}
        return out

    def _ensure(self, kind: str, block: dict[str, Any]) -> bytes:
        if self.open_kind == kind:
            return b""
        return self._close() + self._open(kind, block)

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        self.open_kind = kind
        start = {"type": "content_block_start", "index": self.next_index, "content_block": block}
        return event_frame("content_block_start", start)

    def _block_delta(self, delta: dict[str, Any]) -> bytes:
        payload = {"type": "content_block_delta", "index": self.next_index, "delta": delta}
        return event_frame("content_block_delta", payload)

    def _close(self) -> bytes:
        if self.open_kind is None:
            return b""
        stop = {"type": "content_block_stop", "index": self.next_index}
        self.open_kind = None
        self.open_tool = None
        self.next_index += 1
        return event_frame("content_block_stop", stop)


def _tool_block(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": sanitize_tool_id(call.get("id") or "toolu_" + secrets.token_hex(12)),
        "name": str(function.get("name") or ""),
        "input": {},
    }
