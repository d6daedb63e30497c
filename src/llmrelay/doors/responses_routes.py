"""`GET` and `DELETE /v1/responses/{id}`, and `GET /v1/responses/{id}/input_items`: a stored
response, for the key that created it
(https://platform.openai.com/docs/api-reference/responses/get). Another key's response, an
expired one and an unknown id are alike: 404. The relay's state item (responses_output.py)
is shown only with `include=reasoning.encrypted_content`, as in the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.admin.endpoint import caller_key, json_response
from llmrelay.doors.responses_items import input_items_page
from llmrelay.doors.responses_output import INCLUDE_STATE, without_state
from llmrelay.protocol.errors import RelayError

if TYPE_CHECKING:
    from llmrelay.relay import Relay


def response_not_found(response_id: str) -> RelayError:
    return RelayError(
        404, f"Response with id '{response_id}' not found.", param="response_id", code=None
    )


def responses_routes(relay: Relay) -> list[Route]:
    store = relay.responses

    async def owned(request: Request, read: Callable[[str, str], Any]) -> tuple[str, Any]:
        """The response id, and what `read` finds of it for the caller's key: 404 for
        nothing (None or False)."""
        key = await caller_key(relay, request)
        response_id = request.path_params["response_id"]
        found = await asyncio.to_thread(read, response_id, key.id)
        if found is None or found is False:
            raise response_not_found(response_id)
        return response_id, found

    async def get_response(request: Request) -> Response:
        _, found = await owned(request, store.get)
        return json_response(found if _includes_state(request) else without_state(found))

    async def list_input_items(request: Request) -> Response:
        response_id, items = await owned(request, store.input_items)
        return json_response(input_items_page(response_id, items, request.query_params))

    async def delete_response(request: Request) -> Response:
        response_id, _ = await owned(request, store.delete)
        return json_response({"id": response_id, "object": "response", "deleted": True})

    return [
        Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
        Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
        Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
    ]


def _includes_state(request: Request) -> bool:
    params = request.query_params
    include = params.getlist("include") + params.getlist("include[]")
    return INCLUDE_STATE in include
