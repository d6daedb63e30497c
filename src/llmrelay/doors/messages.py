"""The Anthropic Messages door: `POST /v1/messages` (https://docs.anthropic.com/en/api/messages),
so that Claude Code and Anthropic's SDKs can use the relay against any upstream.

The request is translated into the relay's (`messages_request.py`), the answer back
(`messages_response.py`, `messages_stream.py`); `messages_count.py` serves
`POST /v1/messages/count_tokens`. Errors take Anthropic's shape and types
(https://docs.anthropic.com/en/api/errors). See docs/messages.md.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmrelay.doors import messages_native
from llmrelay.doors.base import Door, Inbound, StreamEncoder
from llmrelay.doors.messages_request import chat_body_from_messages
from llmrelay.doors.messages_response import render_message
from llmrelay.doors.messages_signatures import without_relay_blocks
from llmrelay.doors.messages_stream import MessagesStream
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.request import chat_request_from
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.native import NativeRequest
from llmrelay.wire.credentials import api_key_or_bearer

OVERLOADED = 529
"""Anthropic's status for "overloaded": the relay's 503s (no capacity upstream)."""
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    OVERLOADED: "overloaded_error",
}


def anthropic_status(error: RelayError) -> int:
    return OVERLOADED if error.status == 503 else error.status


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_payload(error: RelayError) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}}` with Anthropic's type for the status."""
    kind = error_type(anthropic_status(error))
    return {"type": "error", "error": {"type": kind, "message": error.message}}


class MessagesDoor(Door):
    endpoint = "messages"
    protocol = "anthropic-messages"
    forwarded_headers = frozenset({b"anthropic-version", b"anthropic-beta"})
    """What an Anthropic upstream gets passed on (never the key)."""

    def credentials(self, scope: dict[str, Any]) -> str | None:
        return api_key_or_bearer(scope)

    def parse(self, body: dict[str, Any]) -> Inbound:
        translated = chat_body_from_messages(body)
        request = chat_request_from(translated.body)
        request.max_tokens = translated.max_tokens
        if translated.reasoning is not None:
            request.reasoning = translated.reasoning
            request.reasoning_translated = True
        return Inbound(request, body=body)

    def render(self, inbound: Inbound, answer: dict[str, Any], usage: Usage) -> dict[str, Any]:
        return render_message(inbound.request.model, answer, usage)

    def encoder(self, inbound: Inbound) -> StreamEncoder:
        return MessagesStream(inbound.request.model, error_payload)

    def error_status(self, error: RelayError) -> int:
        return anthropic_status(error)

    def error_body(self, error: RelayError) -> bytes:
        return orjson.dumps(error_payload(error))

    def native_request(self, inbound: Inbound, call: UpstreamCall) -> NativeRequest | None:
        body = without_relay_blocks(inbound.body or {})
        return messages_native.native_request(body, inbound.headers, call)

    def native_usage(self, answer: dict[str, Any]) -> Usage | None:
        return messages_native.usage_of(answer.get("usage"))

    def native_meter(self, counter: TokenCounter, messages: list[dict[str, Any]]) -> Any:
        return messages_native.MessagesStreamMeter(counter, messages)
