"""The routes besides chat: models, health. Errors everywhere take OpenAI's shape."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.api.endpoint import caller_key
from llmrelay.protocol.errors import (
    RelayError,
    internal_error,
    method_not_allowed,
    model_not_found,
    not_found,
)
from llmrelay.store.database import ping

if TYPE_CHECKING:
    from llmrelay.app import Relay

log = logging.getLogger("llmrelay.api")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: RelayError) -> Response:
    headers = {k.decode(): v.decode() for k, v in error.headers() if k != b"content-type"}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _relay_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(not_found(request.url.path))
    if exc.status_code == 405:
        return error_response(method_not_allowed(request.method, request.url.path))
    return error_response(RelayError(exc.status_code, str(exc.detail)))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback, answered in OpenAI's shape rather than plain text.
    (Starlette raises it again once answered, and uvicorn then closes the connection.)"""
    request_id = request.scope.get("llmrelay.request_id")
    log.error(
        "unhandled error on %s %s (%s)",
        request.method,
        request.url.path,
        request_id,
        exc_info=exc,
    )
    return error_response(internal_error())


def exception_handlers() -> dict[Any, Any]:
    return {RelayError: _relay_error, HTTPException: _http_error, Exception: _unexpected_error}


def build_routes(relay: Relay) -> list[Route]:
    async def list_models(request: Request) -> Response:
        key = await caller_key(relay, request)
        cards = [entry.card(name) for name, entry in relay.catalog.visible_to(key)]
        return JSONResponse({"object": "list", "data": cards})

    async def get_model(request: Request) -> Response:
        key = await caller_key(relay, request)
        model_id = request.path_params["model_id"]
        entry = relay.catalog.lookup(model_id)
        if entry is None or not key.may_use(entry.name):
            raise model_not_found(model_id)
        return JSONResponse(entry.card(model_id))

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problems = []
        try:
            await asyncio.wait_for(asyncio.to_thread(ping, relay.engine), timeout=5)
        except Exception as exc:
            problems.append(f"store unreachable: {type(exc).__name__}")
        for name, provider in relay.providers.items():
            if not provider.ready:
                problems.append(f"provider {name} not ready")
        providers = {name: p.status() for name, p in relay.providers.items()}
        deployments = [d.status() for d in relay.catalog.deployments]
        body = {
            "models": len(relay.catalog.entries),
            "providers": providers,
            "deployments": deployments,
            "tokenizer": relay.tokens.status,
        }
        if relay.tokens.problem is not None:  # the relay still works: a warning, not a 503
            body["warnings"] = [f"tokenizer not loaded ({relay.tokens.problem})"]
        if problems:
            body.update(status="unavailable", problems=problems)
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", **body})

    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
