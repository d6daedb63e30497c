"""Turning an upstream's failure into the status and error the relay's client sees.

- 429 stays 429 and keeps `Retry-After`.
- A request the upstream found invalid (400, 404, 409, 413, 422) keeps its status and message.
- The upstream refusing the relay's own credentials or account (401, 402, 403) is the
  operator's problem, not the client's: 502, and the upstream's text is not repeated.
- 503 and 529 (overloaded) become 503; 408 and 504 become 504; any other 5xx becomes 502.

Of the upstream's error body only this reaches the client (and so the ledger and the logs):
its message, scrubbed of the relay's credentials (`credentials.Scrubber`); its code when it
is one of OpenAI's (protocol/error_codes), else none; its `param` when it is a field path
naming a field the client sent (`param_sent`). Never its type: the relay's follows from the
status it answers with.

Two kinds of 400 are told apart, whatever the vendor (`refusal_kind`), because a model may
fall back to another model on them: a prompt too long for the model's context, and a request
refused by a content filter. They keep their status and message; their code becomes OpenAI's
(`context_length_exceeded`, `content_filter`) when the vendor gave another.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import orjson

from llmrelay.protocol.error_codes import openai_code
from llmrelay.protocol.errors import RelayError
from llmrelay.providers.base import UpstreamError
from llmrelay.providers.credentials import Scrubber

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

FIELD_PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\.?\[\d+\]|\.[A-Za-z0-9_]+){0,16}")
"""`max_tokens`, `messages[0].content`, `messages.[1].role`, `tools.0.function.name`."""
MAX_PARAM_CHARS = 200


def field_path(param: Any, scrub: Scrubber) -> str | None:
    """An upstream's `param` when it reads as a path into a request body, else None."""
    if not isinstance(param, str) or len(param) > MAX_PARAM_CHARS:
        return None
    if FIELD_PATH.fullmatch(param) is None or scrub(param) != param:
        return None
    return param


def param_sent(param: str | None, body: Mapping[str, Any]) -> str | None:
    """`param` when it names a field of the client's request body, else None."""
    path = FIELD_PATH.fullmatch(param) if param else None
    return param if path is not None and path.group(1) in body else None


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
    secrets: Scrubber | Iterable[str],
) -> UpstreamError:
    """Map an OpenAI-style error response from `provider` to what the client receives."""
    fields = _error_fields(raw)
    scrub = Scrubber.of(secrets)
    return map_status(
        provider,
        status,
        message=scrub(_text(fields.get("message")) or ""),
        code=openai_code(fields.get("code")),
        param=field_path(fields.get("param"), scrub),
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
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> UpstreamError:
    """The client's error for an upstream status, whatever the vendor (see the table above).

    `message` must already be scrubbed of credentials, `code` one of OpenAI's, `param` a
    field path."""
    if status == 429:
        return UpstreamError(
            429,
            message or f"The upstream provider '{provider}' is rate limiting requests.",
            code=code if code == "insufficient_quota" else "rate_limit_exceeded",
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
            code="upstream_timeout",
            upstream_status=status,
        )
    if status in (503, 529):
        return UpstreamError(
            503,
            message or f"The upstream provider '{provider}' is overloaded. Try again later.",
            code="upstream_overloaded",
            retry_after=retry_after,
            upstream_status=status,
        )
    return UpstreamError(
        502,
        message or f"The upstream provider '{provider}' failed (status {status}).",
        code="upstream_error",
        upstream_status=status,
    )
