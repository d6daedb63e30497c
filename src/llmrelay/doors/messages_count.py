"""`POST /v1/messages/count_tokens` (https://docs.anthropic.com/en/api/messages-count-tokens):
the prompt's tokens, counted by the relay's token counter on the translated request (system,
tools and messages), without calling any upstream. It needs a key like every route, and only
counts for a model the key may use."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.doors.messages import MessagesDoor
from llmrelay.protocol.errors import RelayError, internal_error
from llmrelay.protocol.json_body import parse_json_object
from llmrelay.wire.body import ClientGone, read_body
from llmrelay.wire.forwarded import client_address

if TYPE_CHECKING:
    from llmrelay.metering.tokens import TokenCounter
    from llmrelay.relay import Relay

log = logging.getLogger("llmrelay.doors.messages")

COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
COUNTED_MAX_TOKENS = 1
"""`max_tokens` is not part of a count request; the translation needs one."""


def prompt_tokens(counter: TokenCounter, chat_body: dict[str, Any]) -> int:
    """The translated request's prompt: its messages, plus its tools' definitions."""
    total = counter.count_messages(chat_body["messages"])
    for tool in chat_body.get("tools") or ():
        total += counter.count(orjson.dumps(tool).decode())
    return max(1, total)


def count_tokens_route(relay: Relay) -> Route:
    door = MessagesDoor()

    async def count_tokens(request: Request) -> Response:
        held = 0
        try:
            key = await relay.keys.authenticate(door.credentials(request.scope))
            relay.gate.check_address(key, client_address(request.scope, relay.proxies))
            limit = relay.settings.server.max_body_bytes
            raw = await read_body(request.scope, request.receive, limit, relay.bodies)
            held = len(raw)
            body = await relay.bodies.off_loop(parse_json_object, raw)
            body.setdefault("max_tokens", COUNTED_MAX_TOKENS)
            body.pop("stream", None)
            inbound = await relay.bodies.off_loop(door.parse, body)
            relay.catalog.resolve(inbound.request.model, key)
            tokens = prompt_tokens(relay.tokens, inbound.request.body)
            return Response(
                orjson.dumps({"input_tokens": tokens}), 200, media_type="application/json"
            )
        except ClientGone:
            return Response(status_code=400)
        except RelayError as error:
            return _error(door, error)
        except Exception:
            log.exception("count_tokens failed")
            return _error(door, internal_error())
        finally:
            relay.bodies.release(held)

    return Route(COUNT_TOKENS_PATH, count_tokens, methods=["POST"])


def _error(door: MessagesDoor, error: RelayError) -> Response:
    headers = {k.decode(): v.decode() for k, v in door.error_headers(error)}
    return Response(door.error_body(error), door.error_status(error), headers)
