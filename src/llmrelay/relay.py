"""The Relay: what a running process holds, built once at start and passed down narrowly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from llmrelay.config import Settings
from llmrelay.drain import Drain
from llmrelay.gate.admission import Gate
from llmrelay.gate.auth import KeyRegistry, ensure_admin_key
from llmrelay.gate.budgets import Budgets
from llmrelay.gate.setup import build_gate
from llmrelay.lineup import Lineup, Lineups
from llmrelay.metering.ledger import Ledger
from llmrelay.metering.tokens import TokenCounter
from llmrelay.observe.observer import Observer
from llmrelay.providers import Provider, build_providers
from llmrelay.providers.images import ImageFetcher
from llmrelay.routing.catalog import ModelCatalog
from llmrelay.routing.router import Router
from llmrelay.store.database import migrate, open_engine
from llmrelay.store.generation import GenerationCounter
from llmrelay.store.installation import installation_secret
from llmrelay.store.key_events import announce_through
from llmrelay.store.keys import KeyStore
from llmrelay.store.responses import ResponseStore
from llmrelay.store.usage import UsageStore
from llmrelay.tracing import open_tracer
from llmrelay.wire.body import InflightBodies
from llmrelay.wire.forwarded import TrustedProxies, parse_trusted_proxies
from llmrelay.worker_role import worker_count, worker_role

if TYPE_CHECKING:
    from llmrelay.tracing.spans import Tracer


@dataclass
class Relay:
    """Everything a request may need, built once per process."""

    settings: Settings
    engine: sa.Engine
    key_store: KeyStore
    keys: KeyRegistry
    usage: UsageStore
    ledger: Ledger
    lineups: Lineups
    """The providers, models and routing in force (and those a reload replaced that
    requests still hold)."""
    tokens: TokenCounter
    generation: GenerationCounter
    images: ImageFetcher
    gate: Gate
    budgets: Budgets
    bodies: InflightBodies
    responses: ResponseStore
    observer: Observer
    """Each request's metrics and log line (observe/)."""
    redis: Any = None
    new_admin_key: str | None = None
    secret: bytes = b""
    """The installation's secret (store/installation.py): keys the tokens clients hold."""
    proxies: TrustedProxies | None = None
    """`server.trusted_proxies`, None when there are none: see `wire.forwarded`."""
    drain: Drain = field(default_factory=lambda: Drain(30.0))
    tracer: Tracer | None = None
    """OpenTelemetry spans of every request (`tracing.spans`); None when tracing is off."""

    @property
    def lineup(self) -> Lineup:
        return self.lineups.current

    @property
    def providers(self) -> dict[str, Provider]:
        return self.lineups.current.providers

    @property
    def catalog(self) -> ModelCatalog:
        return self.lineups.current.catalog

    @property
    def router(self) -> Router:
        return self.lineups.current.router


def prepare_installation(settings: Settings, admin_key: str | None) -> str | None:
    """The schema at its newest and the admin key in place, as at a relay's start; the new
    admin key's secret when one was made here."""
    engine = open_engine(settings.database_url)
    try:
        migrate(engine)
        generation = GenerationCounter(settings.data_path / "keys.generation")
        if settings.server.redis_url:
            generation.announce = announce_through(settings.server.redis_url)
        return ensure_admin_key(KeyStore(engine), generation, admin_key)
    finally:
        engine.dispose()


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
    ledger = Ledger(
        settings.data_path / "outbox", settings.database_url, run_writer=worker_role() is None
    )
    budgets.outbox = ledger.outbox_dir
    keys = KeyRegistry(key_store, generation)
    keys.on_budget_change = budgets.budget_changed
    lineups = Lineups(
        Lineup(providers, ModelCatalog.from_settings(settings, providers), Router(settings.routing))
    )
    drain = Drain(settings.server.drain_seconds)
    writers = 1 if worker_role() is None else worker_count(settings.server.workers)
    return Relay(
        settings=settings,
        engine=engine,
        key_store=key_store,
        keys=keys,
        usage=usage,
        ledger=ledger,
        lineups=lineups,
        tokens=tokens,
        generation=generation,
        images=images,
        gate=gate,
        budgets=budgets,
        bodies=InflightBodies(settings.server.max_inflight_body_bytes),
        responses=ResponseStore(engine, settings.responses.store_ttl_days * 86400),
        observer=Observer(settings, lineups, drain, ledger.outbox_dir, writers),
        redis=redis,
        new_admin_key=new_admin_key,
        secret=installation_secret(engine),
        proxies=parse_trusted_proxies(settings.server.trusted_proxies),
        drain=drain,
        tracer=open_tracer(settings),
    )
