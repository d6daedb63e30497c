"""The Responses API's stream, from the relay's internal `chat.completion.chunk`s.

Every frame is `event: <type>` and `data: {"type": <type>, ..., "sequence_number": n}`, n from
0, and there is no `[DONE]`
(https://platform.openai.com/docs/api-reference/responses-streaming). The stream opens with
`response.created` and `response.in_progress`; each output item (reasoning, then the message,
then each function call) is added, streamed and done before the next one starts, and
`response.output_item.done` carries it whole, since Codex builds its history from those
alone. The upstream's state (relay_state.py) is known whole only at the end, so its
`reasoning` item comes last, when the client includes `reasoning.encrypted_content`. The
stream ends with `response.completed` (or `response.incomplete`) carrying the
usage, or with `response.failed` after a late error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from llmrelay.doors.base import StreamEncoder
from llmrelay.doors.relay_state import TEXT_KEY, Gathered
from llmrelay.doors.responses_output import (
    INCOMPLETE_REASONS,
    ResponseShape,
    new_id,
    reasoning_item,
    refusal_part,
    text_part,
)
from llmrelay.metering.meter import StreamMeter
from llmrelay.protocol.errors import RelayError

Saver = Callable[[dict[str, Any]], Awaitable[None]]
"""Keeps a finished response (its final object) before the client hears it is complete."""


class _Item:
    """The output item being streamed: its kind, its index, and what it has gathered."""

    def __init__(self, kind: str, index: int, item: dict[str, Any]) -> None:
        self.kind = kind
        self.index = index
        self.item = item
        self.text = ""
        self.tool_name = ""
        """A tool call's name as the upstream gave it (the Chat function's)."""


class ResponsesStream(StreamEncoder):
    def __init__(self, shape: ResponseShape, saver: Saver | None = None) -> None:
        self.shape = shape
        self.saver = saver
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.open: _Item | None = None
        self.calls: dict[int, _Item] = {}
        self.finish_reason: str | None = None
        self.gathered = Gathered()
        """The upstream's state, for the last item (relay_state.py)."""
        self.final: dict[str, Any] | None = None
        self._closing = b""
        """The frames that close the last item, computed in `finish` and sent by `end`."""

    # ---- framing ------------------------------------------------------------------------

    def frame(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def begin(self) -> bytes:
        response = self.shape.envelope("in_progress", [])
        created = self.frame("response.created", response=response)
        return created + self.frame("response.in_progress", response=response)

    # ---- items --------------------------------------------------------------------------

    def _start(self, kind: str, item: dict[str, Any]) -> bytes:
        out = self._close()
        self.open = _Item(kind, len(self.output), item)
        self.output.append(item)
        out += self.frame("response.output_item.added", output_index=self.open.index, item=item)
        if kind in ("message", "refusal"):
            out += self.frame(
                "response.content_part.added",
                item_id=item["id"],
                output_index=self.open.index,
                content_index=0,
                part=text_part("") if kind == "message" else refusal_part(""),
            )
        elif kind == "reasoning":
            out += self.frame(
                "response.reasoning_summary_part.added",
                item_id=item["id"],
                output_index=self.open.index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )
        return out

    def _close(self) -> bytes:
        current, self.open = self.open, None
        if current is None:
            return b""
        item, where = current.item, {"item_id": current.item["id"]}
        where["output_index"] = current.index
        status = "incomplete" if self.finish_reason in INCOMPLETE_REASONS else "completed"
        out = b""
        if current.kind == "message":
            part = text_part(current.text)
            out += self.frame(
                "response.output_text.done",
                **where,
                content_index=0,
                text=current.text,
                logprobs=[],
            )
            out += self.frame("response.content_part.done", **where, content_index=0, part=part)
            item.update(status=status, content=[part])
        elif current.kind == "refusal":
            part = refusal_part(current.text)
            out += self.frame(
                "response.refusal.done", **where, content_index=0, refusal=current.text
            )
            out += self.frame("response.content_part.done", **where, content_index=0, part=part)
            item.update(status=status, content=[part])
        elif current.kind == "reasoning":
            part = {"type": "summary_text", "text": current.text}
            out += self.frame(
                "response.reasoning_summary_text.done", **where, summary_index=0, text=current.text
            )
            out += self.frame(
                "response.reasoning_summary_part.done", **where, summary_index=0, part=part
            )
            item["summary"] = [part]
        else:
            item = self.output[current.index] = self._finished_call(current, status)
            if current.kind == "function_call":
                out += self.frame(
                    "response.function_call_arguments.done",
                    **where,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            else:  # a custom tool's text, unwrapped from its `input` argument, at once
                text = item["input"]
                out += self.frame("response.custom_tool_call_input.delta", **where, delta=text)
                out += self.frame("response.custom_tool_call_input.done", **where, input=text)
        return out + self.frame("response.output_item.done", output_index=current.index, item=item)

    def _finished_call(self, call: _Item, status: str = "completed") -> dict[str, Any]:
        """The call item with all its arguments (a custom tool's as its text)."""
        final = self.shape.call_item(call.item["call_id"], call.tool_name, call.text, status)
        final["id"] = call.item["id"]
        return final

    def _reasoning(self, text: str) -> bytes:
        out = b""
        if self.open is None or self.open.kind != "reasoning":
            out += self._start("reasoning", reasoning_item(""))
        assert self.open is not None
        self.open.text += text
        where = {"item_id": self.open.item["id"], "output_index": self.open.index}
        return out + self.frame(
            "response.reasoning_summary_text.delta", **where, summary_index=0, delta=text
        )

    def _text(self, text: str, kind: str = "message") -> bytes:
        """Answer text (`message`) or a refusal (`refusal`: a message with a refusal part)."""
        out = b""
        if self.open is None or self.open.kind != kind:
            item = {"type": "message", "id": new_id("msg"), "status": "in_progress"}
            item |= {"role": "assistant", "content": []}
            out += self._start(kind, item)
        assert self.open is not None
        self.open.text += text
        where = {"item_id": self.open.item["id"], "output_index": self.open.index}
        if kind == "refusal":
            return out + self.frame("response.refusal.delta", **where, content_index=0, delta=text)
        return out + self.frame(
            "response.output_text.delta", **where, content_index=0, delta=text, logprobs=[]
        )

    def _tool_call(self, fragment: dict[str, Any]) -> bytes:
        index = fragment.get("index", 0)
        function = fragment.get("function") or {}
        arguments = function.get("arguments") or ""
        call = self.calls.get(index)
        out = b""
        if call is None:
            call_id = fragment.get("id") or new_id("call")
            name = function.get("name") or ""
            item = self.shape.call_item(call_id, name, "", "in_progress")
            out += self._start(item["type"], item)
            assert self.open is not None
            call = self.calls[index] = self.open
            call.tool_name = name
            self.gathered.called_tools = True
        call.text += arguments
        self.gathered.keep_signature(fragment, call.item["call_id"])
        if call is not self.open:
            # Upstreams send parallel calls one after another; a late fragment of an earlier
            # call, whose `output_item.done` went out already, still reaches the final object.
            self.output[call.index] = self._finished_call(call)
        elif arguments and call.kind == "function_call":
            where = {"item_id": call.item["id"], "output_index": call.index}
            out += self.frame("response.function_call_arguments.delta", **where, delta=arguments)
        return out

    # ---- the encoder's calls ------------------------------------------------------------

    def delta(self, chunk: dict[str, Any]) -> bytes:
        out = b""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            self.gathered.take(delta)
            self.gathered.keep_signature(delta, TEXT_KEY)
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                out += self._reasoning(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                out += self._text(content)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                out += self._text(refusal, "refusal")
            for fragment in delta.get("tool_calls") or ():
                if isinstance(fragment, dict):
                    out += self._tool_call(fragment)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def _state(self) -> bytes:
        """The item with the upstream's state, last; sent if the client asked for it."""
        item = self.shape.state_item(self.gathered)
        if item is None:
            return b""
        index = len(self.output)
        self.output.append(item)
        if not self.shape.show_state:
            return b""
        added = self.frame("response.output_item.added", output_index=index, item=item)
        return added + self.frame("response.output_item.done", output_index=index, item=item)

    def _conclude(self, meter: StreamMeter) -> dict[str, Any]:
        self._closing = self._close() + self._state()
        self.final = self.shape.finished(self.output, self.finish_reason, meter.reported)
        return self.final

    async def finish(self, meter: StreamMeter) -> None:
        final = self._conclude(meter)
        if self.saver is not None:
            await self.saver(final)  # with the state item: a continuation needs it

    def end(self, meter: StreamMeter) -> bytes:
        final = self.final if self.final is not None else self._conclude(meter)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        return self._closing + self.frame(kind, response=self.shape.visible(final))

    def error(self, error: RelayError) -> bytes:
        opening = self.begin() if self.sequence == 0 else b""  # failed before any token
        response = self.shape.visible(self.shape.envelope("failed", self.output))
        response["error"] = {"code": error.code or error.type, "message": error.message}
        return opening + self._closing + self.frame("response.failed", response=response)
