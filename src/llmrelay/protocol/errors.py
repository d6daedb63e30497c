"""One OpenAI-shaped error type, and how it becomes an HTTP response or an SSE event."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import orjson

STORE_RETRY_AFTER_SECONDS = 2.0


class RelayError(Exception):
    """An error a client sees as `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.extra_headers: list[tuple[bytes, bytes]] = []

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def json(self) -> bytes:
        return orjson.dumps(self.body())

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", b"application/json")]
        if self.retry_after is not None:
            seconds = max(1, round(self.retry_after))
            headers.append((b"retry-after", str(seconds).encode()))
        if self.status == 429 and self.code == "insufficient_quota":
            headers.append((b"x-should-retry", b"false"))
        headers.extend(self.extra_headers)
        return headers

    def __repr__(self) -> str:
        return f"RelayError({self.status}, {self.message!r}, code={self.code!r})"


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> RelayError:
    return RelayError(400, message, param=param, code=code)


def invalid_type(param: str, expected: str, value: Any) -> RelayError:
    got = type(value).__name__ if value is not None else "null"
    return invalid_request(
        f"Invalid type for '{param}': expected {expected}, but got {got}.",
        param=param,
        code="invalid_type",
    )


def invalid_api_key(message: str = "Incorrect API key provided.") -> RelayError:
    return RelayError(401, message, code="invalid_api_key")


MAX_ECHOED_CHARS = 256
"""A client's text repeated in an error message is cut to this length."""


def echoed(text: str) -> str:
    return text if len(text) <= MAX_ECHOED_CHARS else text[:MAX_ECHOED_CHARS] + "…"


def model_not_found(model: str, known: Iterable[str] = ()) -> RelayError:
    """404 for a model the key cannot use, suggesting the `known` names nearest to it
    (none for a name too long to be a typo: comparing it would cost more than it helps)."""
    nearest = []
    if len(model) <= MAX_ECHOED_CHARS:
        nearest = difflib.get_close_matches(model, list(known), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(f'`{name}`' for name in nearest)}?" if nearest else ""
    return RelayError(
        404,
        f"The model `{echoed(model)}` does not exist or you do not have access to it.{hint} "
        "List the models your key may use with GET /v1/models.",
        param="model",
        code="model_not_found",
    )


def not_found(path: str) -> RelayError:
    return RelayError(404, f"Unknown request URL: {path}.", code="unknown_url")


def method_not_allowed(method: str, path: str, allowed: Iterable[str]) -> RelayError:
    """405 with the `Allow` header every 405 must carry (RFC 9110, section 15.5.6)."""
    error = RelayError(405, f"Method {method} is not allowed on {path}.", code="method_not_allowed")
    error.extra_headers.append((b"allow", ", ".join(sorted(allowed)).encode()))
    return error


def internal_error() -> RelayError:
    return RelayError(
        500,
        "The relay had an error while processing your request.",
        type="server_error",
        code="internal_error",
    )


def store_unavailable() -> RelayError:
    """The relay's database did not answer: the relay's fault, worth retrying shortly."""
    return RelayError(
        503,
        "The relay's database is unavailable right now; retry shortly.",
        type="server_error",
        code="store_unavailable",
        retry_after=STORE_RETRY_AFTER_SECONDS,
    )


def server_draining() -> RelayError:
    """This relay process is shutting down (SIGTERM): a request that arrives meanwhile is not
    served (another replica will be), and a stream still running when the drain's time is
    up ends with this error (docs/deploy.md)."""
    return RelayError(
        503,
        "This relay is shutting down; retry the request, another instance will serve it.",
        type="server_error",
        code="server_draining",
        retry_after=1,
    )
