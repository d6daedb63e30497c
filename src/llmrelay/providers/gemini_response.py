"""Gemini `GenerateContentResponse` -> OpenAI `chat.completion`, and Gemini errors -> OpenAI's.

Thought parts become `reasoning_content`, other text `content`, `functionCall` parts
`tool_calls`. A part's `thoughtSignature` travels in Google's own OpenAI-compatibility spelling,
`extra_content: {"google": {"thought_signature": ...}}`: on the tool call it came with, or on
the message for a signature on a text part. Clients send it back in the same place.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmrelay.providers.base import UpstreamError
from llmrelay.providers.credentials import Scrubber
from llmrelay.providers.upstream_errors import (
    credentials_refused,
    map_status,
    retry_after_seconds,
)

log = logging.getLogger("llmrelay.gemini")

CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "OTHER",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
    }
)
STOP_REASONS = frozenset(
    {
        "STOP",
        "FINISH_REASON_UNSPECIFIED",
        "MALFORMED_FUNCTION_CALL",
        "UNEXPECTED_TOOL_CALL",
        "TOO_MANY_TOOL_CALLS",
        "NO_IMAGE",
    }
)
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
STATUS_CODES = {
    "INVALID_ARGUMENT": "invalid_value",
    "OUT_OF_RANGE": "invalid_value",
    "NOT_FOUND": "model_not_found",
}
"""Google's canonical error statuses (https://cloud.google.com/apis/design/errors) that name
an OpenAI code; a `generateContent` URL names no resource but the model. The others map by
HTTP status (RESOURCE_EXHAUSTED is a 429, UNAVAILABLE a 503...)."""


# ---- thought signatures ---------------------------------------------------------------------


def signature_extra(signature: str) -> dict[str, Any]:
    return {"google": {"thought_signature": signature}}


def read_signature(holder: Any) -> str | None:
    """The signature a client sent back in `extra_content.google.thought_signature`."""
    extra = holder.get("extra_content") if isinstance(holder, dict) else None
    google = extra.get("google") if isinstance(extra, dict) else None
    value = google.get("thought_signature") if isinstance(google, dict) else None
    return value if isinstance(value, str) and value else None


# ---- parts ----------------------------------------------------------------------------------


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def tool_call_from(part: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """A `functionCall` part as an OpenAI tool call (with `index` when streaming)."""
    call = part["functionCall"]
    args = call.get("args")
    tool_call: dict[str, Any] = {} if index is None else {"index": index}
    tool_call["id"] = call.get("id") or new_call_id()
    tool_call["type"] = "function"
    tool_call["function"] = {
        "name": call.get("name") or "",
        "arguments": orjson.dumps(args if args is not None else {}).decode(),
    }
    if part.get("thoughtSignature"):
        tool_call["extra_content"] = signature_extra(part["thoughtSignature"])
    return tool_call


@dataclass(slots=True)
class Pieces:
    """One candidate's parts, sorted by what they become."""

    reasoning: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    signature: str | None = None
    """A thoughtSignature that came on a part other than a function call."""


def read_parts(candidate: dict[str, Any]) -> Pieces:
    pieces = Pieces()
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            pieces.calls.append(part)
            continue
        if part.get("thoughtSignature"):
            pieces.signature = part["thoughtSignature"]
        text = part.get("text")
        if isinstance(text, str) and text:
            (pieces.reasoning if part.get("thought") else pieces.text).append(text)
    return pieces


def finish_reason(reason: str | None, has_tool_calls: bool) -> str:
    """Gemini's finishReason in OpenAI's words (https://ai.google.dev/api/generate-content#FinishReason)."""
    if reason == "MAX_TOKENS":
        return "length"
    if reason in CONTENT_FILTER_REASONS:
        return "content_filter"
    if reason not in STOP_REASONS:
        log.warning("unknown Gemini finishReason %r treated as stop", reason)
    return "tool_calls" if reason == "STOP" and has_tool_calls else "stop"


def usage_from(metadata: Any) -> dict[str, Any] | None:
    """`usageMetadata` in OpenAI's shape; thoughts count as completion (reasoning) tokens."""
    if not isinstance(metadata, dict):
        return None

    def count(name: str) -> int:
        value = metadata.get(name)
        return value if isinstance(value, int) else 0

    prompt = count("promptTokenCount") + count("toolUsePromptTokenCount")
    thoughts = count("thoughtsTokenCount")
    completion = count("candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": count("totalTokenCount") or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": count("cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _logprob(entry: dict[str, Any]) -> dict[str, Any]:
    token = entry.get("token") or ""
    return {
        "token": token,
        "logprob": entry.get("logProbability", 0.0),
        "bytes": list(token.encode()),
    }


def logprobs_from(result: Any) -> dict[str, Any] | None:
    """`logprobsResult` as OpenAI's `choice.logprobs`."""
    if not isinstance(result, dict):
        return None
    tops = result.get("topCandidates") or []
    content = []
    for i, chosen in enumerate(result.get("chosenCandidates") or []):
        top = tops[i].get("candidates") or [] if i < len(tops) else []
        content.append({**_logprob(chosen), "top_logprobs": [_logprob(t) for t in top]})
    return {"content": content, "refusal": None}


# ---- the whole response ---------------------------------------------------------------------


def message_from(pieces: Pieces) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(pieces.text) if pieces.text else None,
        "refusal": None,
    }
    if pieces.reasoning:
        message["reasoning_content"] = "".join(pieces.reasoning)
    if pieces.calls:
        message["tool_calls"] = [tool_call_from(part) for part in pieces.calls]
    if pieces.signature:
        message["extra_content"] = signature_extra(pieces.signature)
    return message


def _choice(candidate: dict[str, Any], position: int) -> dict[str, Any]:
    pieces = read_parts(candidate)
    return {
        "index": candidate.get("index", position),
        "message": message_from(pieces),
        "logprobs": logprobs_from(candidate.get("logprobsResult")),
        "finish_reason": finish_reason(candidate.get("finishReason"), bool(pieces.calls)),
    }


def blocked_choice(feedback: Any) -> dict[str, Any]:
    """The one empty choice for a prompt Gemini blocked (no candidates at all)."""
    blocked = isinstance(feedback, dict) and feedback.get("blockReason")
    return {
        "index": 0,
        "message": {"role": "assistant", "content": None, "refusal": None},
        "logprobs": None,
        "finish_reason": "content_filter" if blocked else "stop",
    }


def response_id(response: dict[str, Any]) -> str:
    upstream = response.get("responseId")
    if isinstance(upstream, str) and upstream:
        return f"chatcmpl-{upstream}"
    return "chatcmpl-" + secrets.token_hex(12)


def completion_from(response: dict[str, Any], model: str) -> dict[str, Any]:
    candidates = [c for c in response.get("candidates") or () if isinstance(c, dict)]
    choices = [_choice(c, i) for i, c in enumerate(candidates)]
    completion: dict[str, Any] = {
        "id": response_id(response),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": response.get("modelVersion") or model,
        "choices": choices or [blocked_choice(response.get("promptFeedback"))],
    }
    usage = usage_from(response.get("usageMetadata"))
    if usage is not None:
        completion["usage"] = usage
    return completion


# ---- errors ---------------------------------------------------------------------------------


def error_fields(raw: bytes) -> dict[str, Any]:
    """`{"error": {code, message, status, details}}` (also inside a JSON array), or {}."""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return {}
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _details(fields: dict[str, Any]) -> Iterable[dict[str, Any]]:
    details = fields.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def retry_delay(fields: dict[str, Any]) -> float | None:
    """RetryInfo's `retryDelay` ("22s", "1.5s") in seconds."""
    for detail in _details(fields):
        delay = detail.get("retryDelay")
        if detail.get("@type") == RETRY_INFO and isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def _credentials_refused(status: int, fields: dict[str, Any]) -> bool:
    if status in (401, 403) or fields.get("status") in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return True
    return any(
        d.get("@type") == ERROR_INFO and d.get("reason") in CREDENTIAL_REASONS
        for d in _details(fields)
    )


def _message(fields: dict[str, Any], scrub: Scrubber) -> str:
    message = fields.get("message")
    return scrub(message) if isinstance(message, str) and message else ""


def map_gemini_error(
    provider: str,
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    secrets_: Scrubber | Iterable[str],
) -> UpstreamError:
    """A Gemini error answer (or mid-stream error frame) as the client's OpenAI error."""
    fields = error_fields(raw)
    message = _message(fields, Scrubber.of(secrets_))
    kind = fields.get("status")
    retry = retry_delay(fields) or retry_after_seconds(headers)
    if _credentials_refused(status, fields):
        return credentials_refused(provider, status)
    if kind == "FAILED_PRECONDITION":
        return UpstreamError(
            502,
            f"The upstream provider '{provider}' cannot serve this request: {message}",
            upstream_status=status,
        )
    return map_status(
        provider,
        status,
        message=message,
        code=STATUS_CODES.get(kind) if isinstance(kind, str) else None,
        retry_after=retry,
    )
