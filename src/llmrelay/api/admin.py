"""The admin API (`/admin/...`, admin key only) and the customer routes (`/v1/key...`,
`/v1/dashboard/billing/...`), as Starlette routes built from one table that also yields
their OpenAPI document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.api.admin_keys import key_endpoints
from llmrelay.api.admin_models import model_endpoints
from llmrelay.api.admin_status import status_endpoints
from llmrelay.api.admin_usage import usage_endpoints
from llmrelay.api.customer import customer_endpoints
from llmrelay.api.endpoint import Endpoint, json_response, request_token
from llmrelay.api.openapi import openapi_document

if TYPE_CHECKING:
    from llmrelay.app import Relay

OPENAPI_PATH = "/admin/openapi.json"


def admin_endpoints(relay: Relay) -> list[Endpoint]:
    """Every admin and customer endpoint, the OpenAPI document's own included."""
    endpoints = [
        *key_endpoints(relay),
        *usage_endpoints(relay),
        *model_endpoints(relay),
        *status_endpoints(relay),
        *customer_endpoints(relay),
    ]
    document: dict[str, Any] = {}

    async def openapi(_request: Request) -> Response:
        return json_response(document)

    endpoints.append(
        Endpoint("GET", OPENAPI_PATH, openapi, "This API in OpenAPI 3.1", dict[str, Any])
    )
    document.update(openapi_document(endpoints))
    return endpoints


def _admin_only(relay: Relay, endpoint: Endpoint) -> Route:
    async def guarded(request: Request) -> Response:
        await relay.keys.require_admin(request_token(request))
        return await endpoint.handler(request)

    return Route(endpoint.path, guarded, methods=[endpoint.method])


def admin_routes(relay: Relay) -> list[Route]:
    """The routes to mount: admin ones refuse anything but the admin key (401, or 403 for an
    API key); customer ones authenticate the caller's key themselves."""
    return [
        _admin_only(relay, endpoint) if endpoint.caller == "admin" else endpoint.route()
        for endpoint in admin_endpoints(relay)
    ]
