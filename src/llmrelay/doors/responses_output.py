"""The Responses API's answer objects, built from the relay's Chat answer: the `response`
object with its echoed settings, its output items (reasoning, message, function calls, in
that order, then a `reasoning` item with the upstream's state in the relay's own
`encrypted_content`, see relay_state.py and docs/responses.md) and its usage
(https://platform.openai.com/docs/api-reference/responses/object)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmrelay.doors.relay_state import Gathered, Seal, is_minted

INCLUDE_STATE = "reasoning.encrypted_content"
"""The `include` value that asks for the state item (as it asks OpenAI for its own)."""
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
"""Chat finish reasons that leave a response `incomplete`, and the reason it then names."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


@dataclass(slots=True)
class ResponseShape:
    """What every rendering of one response shares: its id, time, and the client's settings
    to echo."""

    body: dict[str, Any]
    custom_tools: frozenset[str] = frozenset()
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = 0
    previous_response_id: str | None = None
    store: bool = True
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Chat function names of tools of a `namespace` group: the namespace and the own name."""
    seal: Seal | None = None
    """Mints the upstream's state into a last `reasoning` item (None: the response carries
    none): when the client includes `reasoning.encrypted_content`, or stores the response."""
    show_state: bool = False
    """The client includes `reasoning.encrypted_content`: it sees that item too."""

    def envelope(self, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        body = self.body
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body.get("model"),
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": self.previous_response_id,
            "reasoning": {
                "effort": reasoning.get("effort"),
                "summary": reasoning.get("summary"),
            },
            "store": self.store,
            "temperature": body.get("temperature"),
            "text": {"format": text.get("format") or {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p"),
            "truncation": body.get("truncation", "disabled"),
            "usage": None,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def finished(
        self,
        output: list[dict[str, Any]],
        finish_reason: str | None,
        usage: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The final object: `completed`, or `incomplete` with the reason."""
        reason = INCOMPLETE_REASONS.get(finish_reason or "")
        response = self.envelope("incomplete" if reason else "completed", output)
        if reason:
            response["incomplete_details"] = {"reason": reason}
        response["usage"] = responses_usage(usage)
        return response

    def call_item(self, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
        """A tool call as the client knows it: `custom_tool_call` for a custom tool (its text
        unwrapped from the `input` argument), else `function_call`."""
        namespace, own_name = self.namespaced.get(name, (None, name))
        if name in self.custom_tools:
            item = custom_call_item(call_id, own_name, arguments, status)
        else:
            item = {
                "type": "function_call",
                "id": new_id("fc"),
                "call_id": call_id,
                "name": own_name,
                "arguments": arguments,
                "status": status,
            }
        if namespace is not None:  # Codex finds the tool by (namespace, name)
            item["namespace"] = namespace
        return item

    def state_item(self, gathered: Gathered) -> dict[str, Any] | None:
        """The `reasoning` item that carries the upstream's state, if there is any to carry
        and the response carries state."""
        payload = gathered.payload() if self.seal is not None else None
        if not payload or self.seal is None:
            return None
        token = self.seal.seal(payload)
        return {"type": "reasoning", "id": new_id("rs"), "summary": [], "encrypted_content": token}

    def visible(self, response: dict[str, Any]) -> dict[str, Any]:
        """`response` as the client sees it: the state item only if it asked for it."""
        return response if self.show_state else without_state(response)


def is_state_item(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.get("type") == "reasoning"
        and is_minted(item.get("encrypted_content"))
    )


def without_state(response: dict[str, Any]) -> dict[str, Any]:
    """The response without the relay's state items (itself when it has none)."""
    output = response.get("output")
    if not isinstance(output, list) or not any(is_state_item(item) for item in output):
        return response
    return {**response, "output": [item for item in output if not is_state_item(item)]}


def custom_call_item(call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    try:
        text = orjson.loads(arguments).get("input")
    except (orjson.JSONDecodeError, AttributeError):
        text = None
    return {
        "type": "custom_tool_call",
        "id": new_id("ctc"),
        "call_id": call_id,
        "name": name,
        "input": text if isinstance(text, str) else arguments,
        "status": status,
    }


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat's usage (`prompt_tokens`, ...) in the Responses API's names."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": prompt_details.get("cached_tokens") or 0},
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": completion_details.get("reasoning_tokens") or 0
        },
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }


def reasoning_item(text: str, item_id: str | None = None) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"type": "reasoning", "id": item_id or new_id("rs"), "summary": summary}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(text: str, status: str, item_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id or new_id("msg"),
        "status": status,
        "role": "assistant",
        "content": [text_part(text)],
    }


def output_items(shape: ResponseShape, answer: dict[str, Any]) -> tuple[list[dict], str | None]:
    """A whole Chat answer's first choice as output items, and its finish reason."""
    choices = answer.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    finish = choice.get("finish_reason")
    status = "incomplete" if finish in INCOMPLETE_REASONS else "completed"
    items = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(reasoning))
    text = message.get("content")
    if isinstance(text, str) and text:
        items.append(message_item(text, status))
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        item = message_item("", status)
        item["content"] = [refusal_part(message["refusal"])]
        items.append(item)
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        name, arguments = function.get("name") or "", function.get("arguments") or ""
        items.append(shape.call_item(call.get("id") or new_id("call"), name, arguments, status))
    state = shape.state_item(Gathered.of_message(message))
    if state is not None:
        items.append(state)
    return items, finish
