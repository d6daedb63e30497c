"""Builds the ASGI app. The lifespan wires the store, key registry, ledger and providers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette

from llmrelay.api.admin import admin_routes
from llmrelay.api.body import InflightBodies
from llmrelay.api.chat import ChatCompletionsEndpoint
from llmrelay.api.routes import build_routes, exception_handlers
from llmrelay.config import Settings
from llmrelay.console import console_routes
from llmrelay.gate.admission import Gate
from llmrelay.gate.auth import KeyRegistry, ensure_admin_key
from llmrelay.gate.budgets import Budgets
from llmrelay.gate.setup import build_gate
from llmrelay.metering.ledger import Ledger
from llmrelay.metering.tokens import TokenCounter
from llmrelay.providers import Provider, build_providers
from llmrelay.providers.images import ImageFetcher
from llmrelay.routing.catalog import ModelCatalog
from llmrelay.routing.router import Router
from llmrelay.store.database import migrate, open_engine
from llmrelay.store.generation import GenerationCounter
from llmrelay.store.key_events import (
    announce_through,
    follow_database_generation,
    follow_key_changes,
    read_database_generation,
)
from llmrelay.store.keys import KeyStore
from llmrelay.store.usage import UsageStore

log = logging.getLogger("llmrelay")

CHAT_PATH = "/v1/chat/completions"


@dataclass
class Relay:
    """Everything a request may need, built once per process."""

    settings: Settings
    engine: sa.Engine
    key_store: KeyStore
    keys: KeyRegistry
    usage: UsageStore
    ledger: Ledger
    providers: dict[str, Provider]
    catalog: ModelCatalog
    router: Router
    tokens: TokenCounter
    generation: GenerationCounter
    images: ImageFetcher
    gate: Gate
    budgets: Budgets
    bodies: InflightBodies
    redis: Any = None
    new_admin_key: str | None = None


def open_relay_state(settings: Settings, admin_key: str | None) -> Relay:
    """Blocking set-up: database, migrations, admin key; providers are built, not started."""
    engine = open_engine(settings.database_url)
    migrate(engine)
    key_store = KeyStore(engine)
    generation = GenerationCounter(settings.data_path / "keys.generation")
    if settings.server.redis_url:
        generation.announce = announce_through(settings.server.redis_url)
    new_admin_key = ensure_admin_key(key_store, generation, admin_key)
    usage = UsageStore(engine)
    images = ImageFetcher(settings.images)
    providers = build_providers(settings, images)
    tokens = TokenCounter()
    gate, budgets, redis = build_gate(settings, usage, tokens)
    ledger = Ledger(settings.data_path / "outbox", settings.database_url)
    budgets.outbox = ledger.outbox_dir
    keys = KeyRegistry(key_store, generation)
    keys.on_budget_change = budgets.budget_changed
    return Relay(
        settings=settings,
        engine=engine,
        key_store=key_store,
        keys=keys,
        usage=usage,
        ledger=ledger,
        providers=providers,
        catalog=ModelCatalog.from_settings(settings, providers),
        router=Router(settings.routing),
        tokens=tokens,
        generation=generation,
        images=images,
        gate=gate,
        budgets=budgets,
        bodies=InflightBodies(settings.server.max_inflight_body_bytes),
        redis=redis,
        new_admin_key=new_admin_key,
    )


class RelayApp:
    """Pure ASGI front: the chat endpoint directly, everything else through Starlette."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.chat = ChatCompletionsEndpoint(relay)
        self.routes = Starlette(
            routes=[*build_routes(relay), *admin_routes(relay), *console_routes()],
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
        if scope["path"] == CHAT_PATH:
            await self.chat(scope, receive, send)
            return
        header = (b"x-request-id", request_id.encode())

        async def send_with_request_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.routes(scope, receive, send_with_request_id)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        relay = self.relay
        if relay.redis is not None:
            follower = asyncio.create_task(follow_key_changes(relay.redis, relay.generation))
        seen = await asyncio.to_thread(read_database_generation, relay.engine)
        poller = asyncio.create_task(
            follow_database_generation(relay.engine, relay.generation, seen),
            name="key-generation-poll",
        )
        await relay.keys.load()
        await asyncio.to_thread(relay.tokens.load)
        await relay.ledger.start()
        await asyncio.gather(*(provider.start() for provider in relay.providers.values()))
        relay.router.start(relay.catalog.deployments)  # active health checks, if configured
        # Everything built so far lives as long as the process: keep it out of the cyclic
        # collector's sight, or each full collection walks it (tens of ms at a time).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            poller.cancel()
            await relay.router.stop()
            for provider in relay.providers.values():
                await provider.close()
            await relay.images.close()
            if relay.redis is not None:
                follower.cancel()
                await relay.redis.aclose()
            await relay.ledger.close()
            await asyncio.to_thread(relay.engine.dispose)


def create_app(settings: Settings, admin_key: str | None = None) -> RelayApp:
    return RelayApp(open_relay_state(settings, admin_key))
