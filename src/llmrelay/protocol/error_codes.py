"""The error `type`s and `code`s a client may see when an upstream failed: a fixed vocabulary.

An upstream's own `type` and `code` never reach a client as they came: a careless or hostile
upstream may put anything there, a credential included, and the ledger would keep it. The
relay's type follows from the status it answers with; the upstream's code is kept only when
it is one of OpenAI's own below (each vendor module maps its vendor's codes into them), and
dropped (null) otherwise. `UpstreamError` holds to this whatever it is given.

OpenAI's codes: https://platform.openai.com/docs/guides/error-codes and the API reference's
error objects; `content_filter` is Azure OpenAI's
(https://learn.microsoft.com/azure/ai-services/openai/concepts/content-filter).
"""

from __future__ import annotations

UPSTREAM_ERROR_TYPES = frozenset(
    {
        "invalid_request_error",  # the request was refused: 400, 404, 409, 413, 415, 422
        "rate_limit_error",  # 429
        "insufficient_quota",  # 429 that no retry mends (OpenAI's, and the relay's budgets)
        "server_error",  # 503: overloaded
        "timeout_error",  # 504
        "upstream_error",  # 502: any other failure of the upstream
    }
)

OPENAI_CODES = frozenset(
    {
        "array_above_max_length",
        "content_filter",
        "content_policy_violation",
        "context_length_exceeded",
        "decimal_above_max_value",
        "decimal_below_min_value",
        "empty_array",
        "insufficient_quota",
        "integer_above_max_value",
        "integer_below_min_value",
        "invalid_image",
        "invalid_image_format",
        "invalid_image_url",
        "invalid_prompt",
        "invalid_type",
        "invalid_value",
        "missing_required_parameter",
        "model_not_found",
        "rate_limit_exceeded",
        "string_above_max_length",
        "unknown_parameter",
        "unsupported_parameter",
        "unsupported_value",
    }
)
"""Codes an upstream may give that are passed on as they are."""

RELAY_CODES = frozenset(
    {
        "local_queue_full",  # the embedded model's queue is full
        "request_too_large",  # 413
        "upstream_auth_error",  # the upstream refused the relay's credentials or account
        "upstream_error",  # any other failure
        "upstream_malformed",  # an answer the relay could not read
        "upstream_overloaded",  # 503, 529
        "upstream_stream_cut",  # the stream ended before it finished
        "upstream_timeout",  # 408, 504, or a timeout of the relay's own
        "upstream_unreachable",  # no connection
    }
)
"""The relay's own codes for an upstream's failure."""

UPSTREAM_ERROR_CODES = OPENAI_CODES | RELAY_CODES


def openai_code(code: object) -> str | None:
    """`code` when it is one of OpenAI's codes the relay passes on, else None."""
    return code if isinstance(code, str) and code in OPENAI_CODES else None


def error_type(status: int, code: str | None) -> str:
    """The relay's error type for the status it answers with."""
    if status == 429:
        return "insufficient_quota" if code == "insufficient_quota" else "rate_limit_error"
    if status == 503:
        return "server_error"
    if status == 504:
        return "timeout_error"
    if status >= 500:
        return "upstream_error"
    return "invalid_request_error"
