"""The admin API (`/admin/...`, admin key only) and the customer routes (`/v1/key...`,
`/v1/dashboard/billing/...`), as Starlette routes built from one table that also yields
their OpenAPI document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.admin.account_customer import account_customer_endpoints
from llmrelay.admin.accounts import account_endpoints
from llmrelay.admin.customer import customer_endpoints
from llmrelay.admin.endpoint import Endpoint, Handler, json_response, request_token
from llmrelay.admin.keys import key_endpoints
from llmrelay.admin.member_routes import member_endpoints
from llmrelay.admin.models import model_endpoints
from llmrelay.admin.openapi import openapi_document
from llmrelay.admin.redemption_codes import code_endpoints
from llmrelay.admin.reload import reload_endpoints
from llmrelay.admin.status import status_endpoints
from llmrelay.admin.usage import usage_endpoints

if TYPE_CHECKING:
    from llmrelay.relay import Relay

OPENAPI_PATH = "/admin/openapi.json"


def admin_endpoints(relay: Relay) -> list[Endpoint]:
    """Every admin and customer endpoint, the OpenAPI document's own included."""
    endpoints = [
        *key_endpoints(relay),
        *account_endpoints(relay),
        *code_endpoints(relay),
        *usage_endpoints(relay),
        *model_endpoints(relay),
        *status_endpoints(relay),
        *reload_endpoints(relay),
        *customer_endpoints(relay),
        *account_customer_endpoints(relay),
        *member_endpoints(relay),
    ]
    made: list[Any] = [None, None]
    """The catalog the document was made for, and the document (made again after a reload)."""

    async def openapi(_request: Request) -> Response:
        catalog = relay.catalog
        if made[0] is not catalog:
            names = sorted([*catalog.entries, *catalog.aliases])
            made[:] = [catalog, openapi_document(endpoints, names)]
        return json_response(made[1])

    endpoints.append(
        Endpoint("GET", OPENAPI_PATH, openapi, "This API in OpenAPI 3.1", dict[str, Any])
    )
    return endpoints


def _guarded(relay: Relay, endpoint: Endpoint) -> Handler:
    """The endpoint's handler; for admin endpoints, after refusing anything but the admin key."""
    if endpoint.caller != "admin":
        return endpoint.handler

    async def guarded(request: Request) -> Response:
        await relay.keys.require_admin(request_token(request))
        return await endpoint.handler(request)

    return guarded


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    """One route per path, so a 405 there lists every method the path takes in `Allow`."""

    async def by_method(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, by_method, methods=list(handlers))


def admin_routes(relay: Relay) -> list[Route]:
    """The routes to mount: admin ones refuse anything but the admin key (401, or 403 for an
    API key); customer ones authenticate the caller's key themselves."""
    by_path: dict[str, dict[str, Handler]] = {}
    for endpoint in admin_endpoints(relay):
        by_path.setdefault(endpoint.path, {})[endpoint.method] = _guarded(relay, endpoint)
    return [_route(path, handlers) for path, handlers in by_path.items()]
