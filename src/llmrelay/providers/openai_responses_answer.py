"""An OpenAI Responses answer (https://platform.openai.com/docs/api-reference/responses/object)
as the relay's `chat.completion`: `output_text` parts become the message's content,
`function_call` items its `tool_calls`, reasoning summaries its `reasoning_content`;
`status` and `incomplete_details` give the finish reason, and usage gets Chat's names (with
cached and reasoning token details). A `failed` response, or an error event in a stream, is
the upstream error the chat path maps (`map_openai_error`).
"""

from __future__ import annotations

from typing import Any

import orjson

from llmrelay.providers.base import UpstreamError
from llmrelay.providers.credentials import Scrubber
from llmrelay.providers.upstream_errors import map_openai_error

INCOMPLETE_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}
FAILED_STATUS = 502
"""A failure reported inside a 200 answer or a stream has no HTTP status of its own."""
REASONING_TEXTS = ("summary_text", "reasoning_text")


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """The Responses API's usage in Chat's names."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": usage.get("total_tokens") or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def finish_reason(response: dict[str, Any], called_tools: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return INCOMPLETE_FINISH.get(reason, "length")
    return "tool_calls" if called_tools else "stop"


def failure(
    provider: str, error: Any, scrubber: Scrubber, status: int = FAILED_STATUS
) -> UpstreamError:
    """The client's error for a Responses `error` object (of a failed response, or an
    `error` event)."""
    fields = error if isinstance(error, dict) else {}
    return map_openai_error(provider, status, orjson.dumps({"error": fields}), {}, scrubber)


def tool_call(item: dict[str, Any]) -> dict[str, Any]:
    function = {"name": item.get("name") or "", "arguments": item.get("arguments") or "{}"}
    return {"id": item.get("call_id") or item.get("id"), "type": "function", "function": function}


def _message_parts(item: dict[str, Any], texts: list[str], refusals: list[str]) -> None:
    for part in item.get("content") or ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "output_text":
            texts.append(str(part.get("text") or ""))
        elif part.get("type") == "refusal":
            refusals.append(str(part.get("refusal") or ""))


def _reasoning(item: dict[str, Any]) -> list[str]:
    parts = list(item.get("summary") or ()) or list(item.get("content") or ())
    return [
        str(part.get("text") or "")
        for part in parts
        if isinstance(part, dict) and part.get("type") in REASONING_TEXTS
    ]


def chat_message(output: list[Any]) -> dict[str, Any]:
    """The assistant message that a response's output items make up."""
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls = []
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            _message_parts(item, texts, refusals)
        elif kind == "function_call":
            calls.append(tool_call(item))
        elif kind == "reasoning":
            reasoning.extend(_reasoning(item))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (calls or refusals) else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if reasoning:
        message["reasoning_content"] = "\n\n".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    return message


def completion_from_response(response: dict[str, Any]) -> dict[str, Any]:
    """A whole Responses answer (not failed) as a `chat.completion`."""
    message = chat_message(response["output"])
    completion: dict[str, Any] = {
        "id": f"chatcmpl-{response.get('id') or 'responses'}",
        "object": "chat.completion",
        "created": response.get("created_at") or 0,
        "model": response.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(response, bool(message.get("tool_calls"))),
            }
        ],
    }
    usage = chat_usage(response.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion
