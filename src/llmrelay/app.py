"""Builds the ASGI app: the doors' route table on the hot path, Starlette for the rest; the
lifespan starts the key followers, the ledger and the providers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette

from llmrelay.admin.public import READYZ_PATH, build_routes, exception_handlers
from llmrelay.admin.routes import admin_routes
from llmrelay.config import Settings
from llmrelay.console import console_routes
from llmrelay.console.catalogue import catalogue_routes
from llmrelay.docs_site import docs_routes
from llmrelay.doors.base import Door
from llmrelay.doors.chat import ChatDoor
from llmrelay.doors.completions import CompletionsDoor
from llmrelay.doors.embeddings import EmbeddingsDoor
from llmrelay.doors.messages import MessagesDoor
from llmrelay.doors.messages_count import count_tokens_route
from llmrelay.doors.relay_state import Seal
from llmrelay.doors.responses import ResponsesDoor
from llmrelay.doors.responses_routes import responses_routes
from llmrelay.observe.endpoint import metrics_routes
from llmrelay.pipeline import Pipeline
from llmrelay.providers import Provider
from llmrelay.relay import Relay, open_relay_state
from llmrelay.reload import reload_on_hangup, stop_reloading_on_hangup
from llmrelay.store.key_events import (
    follow_database_generation,
    follow_key_changes,
    read_database_generation,
)
from llmrelay.worker_role import worker_role

log = logging.getLogger("llmrelay")


def doors_for(relay: Relay) -> dict[str, Door]:
    """The client protocols, by path: each is served by the shared pipeline."""
    return {
        "/v1/chat/completions": ChatDoor(),
        "/v1/embeddings": EmbeddingsDoor(),
        "/v1/completions": CompletionsDoor(),
        "/v1/responses": ResponsesDoor(Seal(relay.secret)),
        "/v1/messages": MessagesDoor(),
    }


class RelayApp:
    """Pure ASGI front: the doors directly, everything else through Starlette."""

    def __init__(self, relay: Relay, doors: dict[str, Door] | None = None) -> None:
        self.relay = relay
        self.pipeline = Pipeline(relay)
        self.doors = doors_for(relay) if doors is None else doors
        self.routes = Starlette(
            routes=[
                *build_routes(relay),
                *responses_routes(relay),
                count_tokens_route(relay),
                *admin_routes(relay),
                *metrics_routes(relay),
                *console_routes(),
                *catalogue_routes(relay),
                *docs_routes(relay),
            ],
            exception_handlers=exception_handlers(),
            lifespan=self._lifespan,
        )
        # Starlette would answer `/healthz/` with a 307 to an absolute URL built from the
        # request's Host header: an open redirect under a spoofed Host. A path the relay does
        # not serve is a 404, trailing slash or not.
        self.routes.router.redirect_slashes = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.routes(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(12)
        scope["llmrelay.request_id"] = request_id
        door = self.doors.get(scope["path"])
        if self.relay.drain.turns_away(scope) and scope["path"] != READYZ_PATH:
            await self.relay.drain.refuse(door, send, request_id)
            return
        if door is not None:
            if self.relay.observer.bodies:  # `server.log_bodies`: keep the response's start
                send = self.relay.observer.capture(scope, send)
            await self.pipeline.serve(door, scope, receive, send)
            return
        header = (b"x-request-id", request_id.encode())

        async def send_with_request_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.routes(scope, receive, send_with_request_id)

    @staticmethod
    async def _start(name: str, provider: Provider) -> None:
        """Start one provider; a failure is said in the log, in one line, before start-up
        ends (uvicorn would only say that start-up failed)."""
        try:
            await provider.start()
        except Exception as exc:
            log.error("provider %s could not start: %s: %s", name, type(exc).__name__, exc)
            raise

    @contextlib.asynccontextmanager
    def _load_tokenizer(self) -> None:
        """The tokenizer, and the budget bound's table built from it (run on a thread)."""
        self.relay.tokens.load()
        self.relay.gate.estimator.bound.refresh()

    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        relay = self.relay
        reload_on_hangup(relay)  # before the slow start: a SIGHUP's default would kill
        if relay.redis is not None:
            follower = asyncio.create_task(follow_key_changes(relay.redis, relay.generation))
        seen = await asyncio.to_thread(read_database_generation, relay.engine)
        poller = asyncio.create_task(
            follow_database_generation(relay.engine, relay.generation, seen),
            name="key-generation-poll",
        )
        await relay.keys.load()
        await asyncio.to_thread(self._load_tokenizer)
        await relay.ledger.start()
        await relay.observer.start(serve_port=worker_role() is None)  # (else the supervisor)
        # One after another: llama.cpp silences the process's stdout and stderr while it
        # loads a model, and a failure said meanwhile would not be seen. A reload (SIGHUP)
        # waits for them.
        async with relay.lineups.lock:
            for name, provider in relay.providers.items():
                await self._start(name, provider)
            relay.router.start(relay.catalog.deployments)  # health checks, if configured
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector's sight, or each full collection walks it (tens of ms at a time).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            stop_reloading_on_hangup()
            poller.cancel()
            await relay.lineups.close()
            await relay.images.close()
            if relay.redis is not None:
                follower.cancel()
                await relay.redis.aclose()
            await relay.observer.stop()
            await relay.ledger.close()
            await asyncio.to_thread(relay.engine.dispose)
            if relay.tracer is not None:  # the spans still batched go out before the exit
                await asyncio.to_thread(relay.tracer.shutdown)


def create_app(settings: Settings, admin_key: str | None = None) -> RelayApp:
    return RelayApp(open_relay_state(settings, admin_key))
