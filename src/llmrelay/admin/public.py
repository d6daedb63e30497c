"""The routes besides the doors: models (in a shape both OpenAI's and Anthropic's clients
read), health. Errors everywhere take OpenAI's shape."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmrelay.admin.endpoint import caller_key, json_response, request_token
from llmrelay.connections import fd_pressure
from llmrelay.protocol.errors import (
    RelayError,
    internal_error,
    method_not_allowed,
    not_found,
    store_unavailable,
)
from llmrelay.store.database import missing_table, unavailable
from llmrelay.worker_role import worker_role

if TYPE_CHECKING:
    from llmrelay.relay import Relay

log = logging.getLogger("llmrelay.admin")

READYZ_PATH = "/readyz"


def error_response(error: RelayError) -> Response:
    headers = {k.decode(): v.decode() for k, v in error.headers() if k != b"content-type"}
    return json_response(error.body(), error.status, headers)


async def _relay_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(not_found(request.url.path))
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "").split(", ")
        return error_response(method_not_allowed(request.method, request.url.path, allowed))
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


async def _store_error(request: Request, exc: Exception) -> Response:
    """A database that refuses connections is an outage to retry after, not a bug."""
    if not unavailable(exc):
        return await _unexpected_error(request, exc)
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return error_response(store_unavailable())


def exception_handlers() -> dict[Any, Any]:
    return {
        RelayError: _relay_error,
        HTTPException: _http_error,
        sa.exc.SQLAlchemyError: _store_error,
        Exception: _unexpected_error,
    }


async def readiness_problems(relay: Relay) -> list[str]:
    problems = []
    try:  # the ledger's table, not just a connection: a database recreated empty has none
        await asyncio.wait_for(asyncio.to_thread(relay.usage.check_table), timeout=5)
    except Exception as exc:
        what = "ledger table missing" if missing_table(exc) else "store unreachable"
        problems.append(f"{what}: {type(exc).__name__}")
    for name, provider in relay.providers.items():
        if not provider.ready:
            problems.append(f"provider {name} not ready")
    descriptors = fd_pressure()
    if descriptors is not None:
        problems.append(descriptors)
    return problems


def process_details() -> dict[str, Any]:
    """Which process answered: its pid, and its index among a machine's workers."""
    role = worker_role()
    return {"pid": os.getpid(), "worker": role.index if role is not None else None}


def readiness_details(relay: Relay) -> dict[str, Any]:
    details: dict[str, Any] = {
        "models": len(relay.catalog.entries),
        "providers": {name: p.status() for name, p in relay.providers.items()},
        "deployments": [d.status() for d in relay.catalog.deployments],
        "tokenizer": relay.tokens.status,
        "process": process_details(),
    }
    if relay.tokens.problem is not None:  # the relay still works: a warning, not a 503
        details["warnings"] = [f"tokenizer not loaded ({relay.tokens.problem})"]
    return details


def anthropic_card(card: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI model card that also carries the fields of Anthropic's
    (https://docs.anthropic.com/en/api/models-list), so that either kind of client reads it."""
    created = datetime.datetime.fromtimestamp(card["created"], datetime.UTC)
    created_at = created.isoformat().replace("+00:00", "Z")
    return {**card, "type": "model", "display_name": card["id"], "created_at": created_at}


def model_list(cards: list[dict[str, Any]]) -> dict[str, Any]:
    """OpenAI's list, with Anthropic's paging fields (one page: the whole list)."""
    first = cards[0]["id"] if cards else None
    last = cards[-1]["id"] if cards else None
    return {"object": "list", "data": cards, "has_more": False, "first_id": first, "last_id": last}


def build_routes(relay: Relay) -> list[Route]:
    async def list_models(request: Request) -> Response:
        key = await caller_key(relay, request)
        cards = [anthropic_card(entry.card(name)) for name, entry in relay.catalog.visible_to(key)]
        return json_response(model_list(cards))

    async def get_model(request: Request) -> Response:
        key = await caller_key(relay, request)
        model_id = request.path_params["model_id"]
        entry = relay.catalog.lookup(model_id)
        if entry is None or not key.may_use(entry.name):
            raise relay.catalog.not_found(model_id, key)
        return json_response(anthropic_card(entry.card(model_id)))

    async def healthz(_request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """What a load balancer probes: ready or not, and nothing more to anyone but the
        admin, who also sees why and the providers' and deployments' state. A draining
        process is not ready (docs/deploy.md)."""
        if relay.drain.draining:
            return json_response({"status": "draining"}, 503, {"connection": "close"})
        problems = await readiness_problems(relay)
        status = 503 if problems else 200
        body: dict[str, Any] = {"status": "unavailable" if problems else "ready"}
        if await relay.keys.is_admin(request_token(request)):
            body.update(readiness_details(relay))
            if problems:
                body["problems"] = problems
        return json_response(body, status)

    return [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route(READYZ_PATH, readyz, methods=["GET"]),
    ]
