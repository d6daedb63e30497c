"""The Messages door's pass-through: to an upstream that speaks Anthropic's Messages API
(an `anthropic` provider), the client's body goes as it came but for `model`, with its
`anthropic-version` and `anthropic-beta` headers; the answer comes back as Anthropic sent it
(https://docs.anthropic.com/en/api/messages, /en/api/messages-streaming).

Usage is read from the answer: `message_start` carries the input side (cache reads and
writes included), `message_delta` the cumulative output count.
"""

from __future__ import annotations

from typing import Any

from llmrelay.metering.native_meter import NativeStreamMeter
from llmrelay.protocol.usage import Usage
from llmrelay.providers.anthropic_response import openai_usage
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.native import NativeRequest

PROTOCOL = "anthropic-messages"
FORWARDED_HEADERS = frozenset({b"anthropic-version", b"anthropic-beta"})
DELTA_FIELDS = ("text", "thinking", "partial_json")


def native_request(
    body: dict[str, Any], headers: dict[str, str], call: UpstreamCall
) -> NativeRequest:
    out = {**body, "model": call.upstream_model}
    if call.max_tokens is not None and body.get("max_tokens") != call.max_tokens:
        out["max_tokens"] = call.max_tokens  # the model's max_output_tokens, or a budget's cap
    # without the client's own `anthropic-version`, the provider's configured one goes
    return NativeRequest(PROTOCOL, out, headers)


def usage_of(anthropic_usage: Any) -> Usage | None:
    if not isinstance(anthropic_usage, dict):
        return None
    return Usage.from_openai(openai_usage(anthropic_usage, 0))


class MessagesStreamMeter(NativeStreamMeter):
    marks = (b"message_start", b"message_delta", b"message_stop", b"error")
    quiet = (b"event: content_block_delta\n",)

    def __init__(self, counter: Any, messages: list[dict[str, Any]]) -> None:
        super().__init__(counter, messages)
        self.raw_usage: dict[str, Any] = {}

    def read(self, name: str, data: dict[str, Any]) -> None:
        if name == "content_block_delta":
            delta = data.get("delta")
            if isinstance(delta, dict):
                for field in DELTA_FIELDS:
                    text = delta.get(field)
                    if isinstance(text, str) and text:
                        self.delivered.add(text)
        elif name == "message_start":
            message = data.get("message")
            self._take(message.get("usage") if isinstance(message, dict) else None)
        elif name == "message_delta":
            self._take(data.get("usage"))
        elif name in ("message_stop", "error"):  # an error event ends a stream too
            self.ended = True

    def _take(self, usage: Any) -> None:
        """Anthropic's counts are cumulative: each one given replaces the one before."""
        if isinstance(usage, dict):
            self.raw_usage.update({k: v for k, v in usage.items() if v is not None})
            if "output_tokens" in self.raw_usage:
                self.reported = usage_of(self.raw_usage)
