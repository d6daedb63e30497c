"""One row of the admin and customer route table: enough to serve it and to document it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from llmrelay.protocol.errors import RelayError
from llmrelay.wire import body
from llmrelay.wire.credentials import api_key_or_bearer, bearer_credentials
from llmrelay.wire.forwarded import client_address

if TYPE_CHECKING:
    from llmrelay.relay import Relay
    from llmrelay.store.keys import ApiKey

MAX_BODY_BYTES = 64 * 1024
"""Admin bodies are small: a key's fields, metadata included, fit in a quarter of this."""

Handler = Callable[[Request], Awaitable[Response]]
Caller = Literal["admin", "key", "member", "key_or_member"]
"""Who may call: the admin key, any API key, a signed-in account member (a session), or
either of the last two."""


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    response: Any
    """The msgspec type of the answer (None for CSV)."""
    caller: Caller = "admin"
    body: Any = None
    query: tuple[QueryParam, ...] = ()
    status: int = 200
    media_type: str = "application/json"


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response struct (or plain data) as JSON: the one JSON responder of every route but
    the doors' (which send their own bytes on the hot path)."""
    return Response(msgspec.json.encode(value), status, headers, media_type="application/json")


def query(name: str, description: str, kind: str = "string", **schema: Any) -> QueryParam:
    return QueryParam(name, description, {"type": kind, **schema})


def request_token(request: Request) -> str | None:
    return bearer_credentials(request.scope)


async def caller_key(relay: Relay, request: Request) -> ApiKey:
    """The API key the request authenticates with (`Authorization: Bearer`, or Anthropic's
    `x-api-key`), refused (403 `ip_not_allowed`) when it is
    used from outside its `allowed_ips`, as chat refuses it."""
    key = await relay.keys.authenticate(api_key_or_bearer(request.scope))
    relay.gate.check_address(key, client_address(request.scope, relay.proxies))
    return key


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    try:
        return bytes(await body.read_body(request.scope, request.receive, limit))
    except body.ClientGone:
        raise RelayError(400, "The client closed the connection before its body arrived.") from None
