"""The Responses door's pass-through: to an OpenAI-compatible upstream that speaks the
Responses API itself (`responses: true`, the default for api.openai.com), the client's body
goes as it came but for `model`; the answer comes back as the upstream sent it, encrypted
reasoning and all (https://platform.openai.com/docs/api-reference/responses). The one
exception: `reasoning` items whose `encrypted_content` the relay minted (relay_state.py) are
left out, since OpenAI answers 400 for encrypted content it did not make.

Usage is read from the response object (`response.completed` when streamed).
"""

from __future__ import annotations

from typing import Any

from llmrelay.doors.relay_state import is_minted
from llmrelay.metering.native_meter import NativeStreamMeter
from llmrelay.protocol.usage import Usage
from llmrelay.providers.base import UpstreamCall
from llmrelay.providers.native import NativeRequest

PROTOCOL = "openai-responses"
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
ENDS = FINAL_EVENTS | {"error"}
QUIET_DELTAS = (
    "output_text",
    "reasoning_text",
    "reasoning_summary_text",
    "function_call_arguments",
)
"""The delta events a paced stream is made of (`ResponsesStreamMeter.quiet`)."""


def _is_relay_reasoning(item: Any) -> bool:
    return (
        type(item) is dict
        and item.get("type") == "reasoning"
        and is_minted(item.get("encrypted_content"))
    )


def _has_relay_reasoning(items: list[Any]) -> bool:
    """Whether any item is the relay's reasoning item. Every pass-through pays this, on a
    history that may be long, so the common case (none) costs a look at each item's type."""
    for item in items:
        if type(item) is dict and item.get("type") == "reasoning" and _is_relay_reasoning(item):
            return True
    return False


def native_request(body: dict[str, Any], call: UpstreamCall) -> NativeRequest:
    out = {**body, "model": call.upstream_model}
    items = body.get("input")
    if type(items) is list and _has_relay_reasoning(items):
        out["input"] = [item for item in items if not _is_relay_reasoning(item)]
    if call.max_tokens is not None and body.get("max_output_tokens") != call.max_tokens:
        out["max_output_tokens"] = call.max_tokens  # max_output_tokens, or a budget's cap
    return NativeRequest(PROTOCOL, out)


def usage_of(usage: Any) -> Usage | None:
    """A Responses `usage` object in the relay's terms."""
    if not isinstance(usage, dict):
        return None
    inputs, outputs = usage.get("input_tokens"), usage.get("output_tokens")
    if not isinstance(inputs, int) or not isinstance(outputs, int):
        return None
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    return Usage.from_openai(
        {
            "prompt_tokens": inputs,
            "completion_tokens": outputs,
            "prompt_tokens_details": {"cached_tokens": input_details.get("cached_tokens")},
            "completion_tokens_details": {
                "reasoning_tokens": output_details.get("reasoning_tokens")
            },
        }
    )


class ResponsesStreamMeter(NativeStreamMeter):
    marks = tuple(name.encode() for name in sorted(ENDS))
    quiet = tuple(f"event: response.{name}.delta\n".encode() for name in QUIET_DELTAS)

    def read(self, name: str, data: dict[str, Any]) -> None:
        self.ended = self.ended or name in ENDS
        if name.endswith(".delta"):
            delta = data.get("delta")
            if isinstance(delta, str) and delta:
                self.delivered.add(delta)
        elif name in FINAL_EVENTS:
            response = data.get("response")
            if isinstance(response, dict):
                self.reported = usage_of(response.get("usage")) or self.reported
                if name == "response.completed":
                    self.final = response
