"""Turning an upstream's failure into the status and message the relay's client sees.

- 429 stays 429 and keeps `Retry-After`.
- A request the upstream found invalid (400, 404, 409, 413, 422) keeps its status and message.
- The upstream refusing the relay's own credentials or account (401, 402, 403) is the
  operator's problem, not the client's: 502, and the upstream's text (which may echo part
  of a key) is not repeated.
- 503 and 529 (overloaded) become 503; 408 and 504 become 504; any other 5xx becomes 502.

Two kinds of 400 are told apart, whatever the vendor (`refusal_kind`), because a model may
fall back to another model on them: a prompt too long for the model's context, and a request
refused by a content filter. They keep their status and message; their code becomes OpenAI's
(`context_length_exceeded`, `content_filter`) when the vendor gave another.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import orjson

from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import UpstreamError

PASS_THROUGH_STATUSES = frozenset({400, 404, 409, 413, 415, 422})

RefusalKind = Literal["context_length", "content_filter"]
REFUSAL_STATUSES = frozenset({400, 413})
CONTEXT_LENGTH_CODES = frozenset({"context_length_exceeded"})
CONTEXT_LENGTH_PHRASES = (
    "maximum context length",  # OpenAI, vLLM, DeepSeek, Mistral
    "prompt is too long",  # Anthropic
    "exceed context limit",  # Anthropic: input plus max_tokens
    "exceeds the maximum number of tokens",  # Gemini
    "exceeds the available context size",  # llama.cpp's server
)
CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
CONTENT_FILTER_PHRASES = (
    "content management policy",  # Azure OpenAI
    "rejected as a result of our safety system",  # OpenAI
)
POLICY_WORDS = ("usage polic", "safety")
"""OpenAI's `invalid_prompt` is a safety block only when its message says so."""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove every configured credential (and its long prefixes) from text shown to anyone."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
            text = text.replace(secret[: len(secret) // 2], "***")
    return text


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, `retry-after` in seconds, or `retry-after` as an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return {}
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return {"message": body["error"]}
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body
    return {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def map_openai_error(
    provider: str,
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str],
) -> UpstreamError:
    """Map an OpenAI-style error response from `provider` to what the client receives."""
    fields = _error_fields(raw)
    code = fields.get("code")
    return map_status(
        provider,
        status,
        message=scrub(_text(fields.get("message")) or "", secrets),
        kind=_text(fields.get("type")),
        code=str(code) if isinstance(code, str | int) and code != "" else None,
        param=_text(fields.get("param")),
        retry_after=retry_after_seconds(headers),
    )


def refusal_kind(status: int, code: str | None, message: str) -> RefusalKind | None:
    """`context_length` or `content_filter` for a request an upstream refused as such."""
    if status not in REFUSAL_STATUSES:
        return None
    text = message.lower()
    if code in CONTEXT_LENGTH_CODES or any(p in text for p in CONTEXT_LENGTH_PHRASES):
        return "context_length"
    if code in CONTENT_FILTER_CODES or any(p in text for p in CONTENT_FILTER_PHRASES):
        return "content_filter"
    if code == "invalid_prompt" and any(word in text for word in POLICY_WORDS):
        return "content_filter"
    return None


def error_refusal(error: BaseException) -> RefusalKind | None:
    """The refusal kind of any client-facing error (an upstream's, or the local model's)."""
    if not isinstance(error, RelayError):
        return None
    return refusal_kind(error.status, error.code, error.message)


def _refusal_code(kind: RefusalKind | None, code: str | None) -> str | None:
    if kind == "context_length" and code not in CONTEXT_LENGTH_CODES:
        return "context_length_exceeded"
    if kind == "content_filter" and code not in CONTENT_FILTER_CODES | {"invalid_prompt"}:
        return "content_filter"
    return code


def credentials_refused(provider: str, status: int) -> UpstreamError:
    return UpstreamError(
        502,
        f"The upstream provider '{provider}' refused the relay's credentials "
        f"(status {status}). The relay's operator must fix its configuration.",
        code="upstream_auth_error",
        upstream_status=status,
    )


def map_status(
    provider: str,
    status: int,
    *,
    message: str,
    kind: str | None = None,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> UpstreamError:
    """The client's error for an upstream status, whatever the vendor (see the table above).

    `message` must already be scrubbed of credentials."""
    if status == 429:
        return UpstreamError(
            429,
            message or f"The upstream provider '{provider}' is rate limiting requests.",
            type=kind or "rate_limit_error",
            code=code or "rate_limit_exceeded",
            retry_after=retry_after or 1.0,
            upstream_status=status,
        )
    if status in PASS_THROUGH_STATUSES:
        refused = refusal_kind(status, code, message)
        if refused == "context_length":
            param = param or "messages"
        return UpstreamError(
            status,
            message or f"The upstream provider '{provider}' rejected the request.",
            type=kind or "invalid_request_error",
            code=_refusal_code(refused, code),
            param=param,
            upstream_status=status,
        )
    if status in (401, 402, 403):
        return credentials_refused(provider, status)
    if status in (408, 504):
        return UpstreamError(
            504,
            message or f"The upstream provider '{provider}' timed out.",
            type="timeout_error",
            code="upstream_timeout",
            upstream_status=status,
        )
    if status in (503, 529):
        return UpstreamError(
            503,
            message or f"The upstream provider '{provider}' is overloaded. Try again later.",
            type=kind or "server_error",
            code=code or "upstream_overloaded",
            retry_after=retry_after,
            upstream_status=status,
        )
    return UpstreamError(
        502,
        message or f"The upstream provider '{provider}' failed (status {status}).",
        type="upstream_error",
        code=code or "upstream_error",
        upstream_status=status,
    )
