"""The caller's key, from the request's headers: one parser for every route."""

from __future__ import annotations

from typing import Any

from llmrelay.protocol.errors import invalid_api_key


def header(scope: dict[str, Any], name: bytes) -> bytes | None:
    """The first value of header `name` (lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without the header.

    A header in another form (a bare key, `Basic ...`) is refused saying what it must be.
    """
    if not authorization or not authorization.strip():
        return None
    scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise invalid_api_key(
            "The Authorization header must be 'Authorization: Bearer <key>'; "
            "this one does not start with 'Bearer '."
        )
    token = token.strip()
    return token or None


def bearer_credentials(scope: dict[str, Any]) -> str | None:
    """The key sent as `Authorization: Bearer <key>`."""
    return bearer_token(header(scope, b"authorization"))


def api_key_or_bearer(scope: dict[str, Any]) -> str | None:
    """The key sent as `x-api-key` (Anthropic's SDKs) or else as `Authorization: Bearer`."""
    value = header(scope, b"x-api-key")
    if value is not None and value.strip():
        return value.decode("latin-1").strip()
    return bearer_credentials(scope)
