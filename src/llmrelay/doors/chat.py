"""The OpenAI Chat Completions door: `POST /v1/chat/completions`, the seed's own.

The relay's internal request and chunks are this protocol's, so the door mostly stamps:
the public model name, one `id` and `created` for a whole stream, the role only in each
choice's first chunk, and `usage` only where the client asked for it
(https://platform.openai.com/docs/api-reference/chat-streaming).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from llmrelay.doors.base import Door, Inbound, StreamEncoder
from llmrelay.metering.meter import StreamMeter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.request import chat_request_from
from llmrelay.protocol.usage import Usage
from llmrelay.wire.sse import DONE, data_frame


class ChatDoor(Door):
    endpoint = "chat"
    protocol = "openai-chat"

    def parse(self, body: dict[str, Any]) -> Inbound:
        return Inbound(chat_request_from(body))

    def render(self, inbound: Inbound, answer: dict[str, Any], usage: Usage) -> dict[str, Any]:
        answer["model"] = inbound.request.model
        answer["object"] = "chat.completion"
        if "usage" not in answer or answer["usage"] is None:
            answer["usage"] = usage.to_openai()
        return answer

    def encoder(self, inbound: Inbound) -> StreamEncoder:
        request = inbound.request
        return ChatStream(request.model, request.include_usage)

    def error_body(self, error: RelayError) -> bytes:
        return error.json()


class ChatStream(StreamEncoder):
    """Rewrites the internal chunks into the client's `chat.completion.chunk` frames."""

    def __init__(self, public_model: str, include_usage: bool) -> None:
        self.model = public_model
        self.include_usage = include_usage
        self.id: str | None = None
        self.created: int | None = None
        self.roles_sent: set[int] = set()
        self.opening: list[dict[str, Any]] = []

    def delta(self, chunk: dict[str, Any]) -> bytes:
        shaped = self.shape(chunk)
        if shaped is None:
            return b""
        if self.opening:
            return data_frame(self.opening_chunk()) + data_frame(shaped)
        return data_frame(shaped)

    def end(self, meter: StreamMeter) -> bytes:
        if not self.include_usage or meter.reported is None:
            return DONE
        usage_chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": meter.reported,
        }
        return data_frame(usage_chunk) + DONE

    def error(self, error: RelayError) -> bytes:
        return data_frame(error.body())

    def shape(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk to send, or None when it carried nothing for the client."""
        if self.id is None:
            self.id = str(chunk.get("id") or "chatcmpl-" + secrets.token_hex(12))
            created = chunk.get("created")
            self.created = created if isinstance(created, int) else int(time.time())
        choices = chunk.get("choices")
        if not choices:
            return None
        for choice in choices:
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                choice["delta"] = delta = {}
            index = choice.get("index", 0)
            if index in self.roles_sent:
                delta.pop("role", None)
            else:
                self._open_choice(index, delta)
            choice.setdefault("finish_reason", None)
        chunk["id"] = self.id
        chunk["object"] = "chat.completion.chunk"
        chunk["created"] = self.created
        chunk["model"] = self.model
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _open_choice(self, index: int, delta: dict[str, Any]) -> None:
        """A choice's first delta names the role and carries nothing else, as OpenAI's does:
        an upstream whose first delta already carries a token gets a role-only delta sent
        before it (clients that skip the first chunk would lose that token)."""
        self.roles_sent.add(index)
        if any(value for name, value in delta.items() if name != "role"):
            delta.pop("role", None)
            opening = {"role": "assistant", "content": ""}
            self.opening.append(
                {"index": index, "delta": opening, "logprobs": None, "finish_reason": None}
            )
        else:
            delta["role"] = "assistant"

    def opening_chunk(self) -> dict[str, Any]:
        """The role-only chunk owed before the chunk just shaped (see `_open_choice`)."""
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": self.opening,
        }
        if self.include_usage:
            chunk["usage"] = None
        self.opening = []
        return chunk
