"""`GET /openapi.json`: the whole public API in OpenAPI 3.1, for anyone (no key).

The admin and customer routes come from their own table (`admin/routes.py`), the doors,
models, health and docs routes from `admin/openapi_public.py`. Unlike the admin key's
`/admin/openapi.json`, this document does not list the relay's model names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.admin.endpoint import json_response
from llmrelay.admin.openapi import openapi_document
from llmrelay.admin.openapi_public import public_paths
from llmrelay.admin.routes import admin_endpoints

if TYPE_CHECKING:
    from llmrelay.relay import Relay

OPENAPI_PATH = "/openapi.json"


def public_document(relay: Relay) -> dict:
    document = openapi_document(admin_endpoints(relay), None)
    document["info"]["title"] = "llmrelay API"
    document["info"]["description"] = (
        "Every route llmrelay serves. The doors (`/v1/chat/completions`, `/v1/messages`, "
        "`/v1/responses`, `/v1/embeddings`, `/v1/completions`) and `/v1/models` take an API "
        "key; `/admin/...` the admin key; health, docs and this document none. Errors take "
        "OpenAI's shape (Anthropic's on `/v1/messages`). Pages: /docs/."
    )
    document["paths"] = {**public_paths(), **document["paths"]}
    return document


def openapi_route(relay: Relay) -> Route:
    body = json_response(public_document(relay)).body

    async def openapi(_request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Route(OPENAPI_PATH, openapi, methods=["GET"])
