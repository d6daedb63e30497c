"""Reloading the configuration file in a running process: SIGHUP, or `POST /admin/reload`
(docs/deploy.md, "Reload and drain").

The file is read again as it was at start (same path, same command-line overrides). Its
providers, models (prices included) and routing replace the ones in force, for the requests
that begin from then on; a request in flight keeps the lineup it began with (lineup.py). A
provider whose settings did not change is kept as it is, its pool and its loaded model with
it; a new or changed one is built and started before anything is swapped. A file that cannot
be read or checked, or a provider that cannot be built or started, is refused: the error is
logged (and answered), and the configuration in force keeps serving. The other sections
(server, billing, images, responses) are not reloaded; what changed there is said.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from llmrelay.config import ConfigError, Settings, check_references, load_settings
from llmrelay.lineup import Lineup, close_provider
from llmrelay.protocol.errors import RelayError
from llmrelay.providers import Provider, build_provider, used_providers
from llmrelay.providers.credentials import Scrubber, all_credentials, hide_in_logs
from llmrelay.providers.images import ImageFetcher
from llmrelay.routing.catalog import ModelCatalog
from llmrelay.routing.router import Router

if TYPE_CHECKING:
    from llmrelay.relay import Relay

log = logging.getLogger("llmrelay.reload")

RELOADED = ("providers", "models", "routing")
KEPT = ("server", "billing", "images", "responses")
"""Sections a reload leaves as they were at start (restart the process to change them)."""


class ReloadReport(msgspec.Struct, kw_only=True):
    object: Literal["relay.reload"] = "relay.reload"
    changed: bool
    """Whether new requests are served with a new lineup."""
    models_added: list[str] = []
    models_removed: list[str] = []
    models_changed: list[str] = []
    """Models whose settings (price, deployments, fallbacks...) changed."""
    providers_started: list[str] = []
    """Providers built anew: new, or their settings changed."""
    providers_retired: list[str] = []
    """Providers no longer used: closed once the requests that use them have ended."""
    routing_changed: bool = False
    not_reloaded: list[str] = []
    """Settings the file changes that a reload does not apply (`server.port`, say)."""


def reread(settings: Settings) -> Settings:
    """The settings read again from where `settings` came from, with the same overrides."""
    source = settings.source
    return load_settings(source.path, host=source.host, port=source.port, data_dir=source.data_dir)


def refused(status: int, code: str, message: str) -> RelayError:
    log.error("configuration not reloaded, the one in force keeps serving: %s", message)
    return RelayError(status, f"The configuration was not reloaded: {message}", code=code)


def _changed_names(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(name for name in before.keys() & after.keys() if before[name] != after[name])


def not_reloaded(current: Settings, fresh: Settings) -> list[str]:
    """`section.field` for every setting of the kept sections that the file changes."""
    changed = []
    for section in KEPT:
        before = msgspec.structs.asdict(getattr(current, section))
        after = msgspec.structs.asdict(getattr(fresh, section))
        changed += [f"{section}.{name}" for name in _changed_names(before, after)]
    return changed


def compare(current: Settings, new: Settings, kept: list[str]) -> ReloadReport:
    models_before, models_after = current.models, new.models
    used_before, used_after = used_providers(current), used_providers(new)
    started = [
        name
        for name in sorted(used_after)
        if name not in used_before or current.providers.get(name) != new.providers[name]
    ]
    retired = [
        name
        for name in sorted(used_before)
        if name not in used_after or current.providers[name] != new.providers.get(name)
    ]
    report = ReloadReport(
        changed=False,
        models_added=sorted(models_after.keys() - models_before.keys()),
        models_removed=sorted(models_before.keys() - models_after.keys()),
        models_changed=_changed_names(models_before, models_after),
        providers_started=started,
        providers_retired=retired,
        routing_changed=current.routing != new.routing,
        not_reloaded=kept,
    )
    report.changed = any(getattr(current, s) != getattr(new, s) for s in RELOADED)
    return report


async def start_providers(
    settings: Settings, current: Settings, kept: dict[str, Provider], images: ImageFetcher
) -> dict[str, Provider]:
    """The providers `settings` uses: those in `kept` whose settings did not change, the
    others built and started. None is left open when one fails (ConfigError then)."""
    providers: dict[str, Provider] = {}
    started: list[Provider] = []
    used = used_providers(settings)
    for name, config in settings.providers.items():
        if name not in used:
            continue
        if name in kept and current.providers.get(name) == config:
            providers[name] = kept[name]
            continue
        try:
            provider = build_provider(name, config, images)
            started.append(provider)
            await provider.start()
        except Exception as exc:
            for provider in started:
                await close_provider(provider)
            scrub = Scrubber(all_credentials(settings))
            raise ConfigError(
                scrub(f"provider {name!r} could not start: {type(exc).__name__}: {exc}")
            ) from None
        providers[name] = provider
    return providers


def carry_over(old: ModelCatalog, new: ModelCatalog, breakers: bool) -> None:
    """What a model that stays keeps: its `created` time and, unless the breaker settings
    changed, each staying deployment's breaker (same provider, same upstream name), so a
    deployment cooling down after failures is not sent traffic again by a reload."""
    for name, entry in new.entries.items():
        before = old.entries.get(name)
        if before is None:
            continue
        entry.created = before.created
        if breakers:
            kept = {(id(d.provider), d.upstream_model): d.breaker for d in before.deployments}
            for deployment in entry.deployments:
                key = (id(deployment.provider), deployment.upstream_model)
                deployment.breaker = kept.get(key, deployment.breaker)


async def new_lineup(relay: Relay, settings: Settings) -> Lineup:
    current, old = relay.settings, relay.lineup
    providers = await start_providers(settings, current, old.providers, relay.images)
    catalog = ModelCatalog.from_settings(settings, providers)
    carry_over(old.catalog, catalog, current.routing.breaker == settings.routing.breaker)
    router = Router(settings.routing)
    router.start(catalog.deployments)
    return Lineup(providers, catalog, router)


def hide_new_credentials(current: Settings, new: Settings) -> None:
    """Keep the new providers' credentials out of the logs too."""
    known = set(all_credentials(current))
    added = [secret for secret in all_credentials(new) if secret not in known]
    if added:
        hide_in_logs(Scrubber(added))


async def reload_relay(relay: Relay) -> ReloadReport:
    """Read the file again and put its providers, models and routing in force; raises a
    RelayError (400 for a bad file, 422 for a provider that cannot start) and changes
    nothing when it cannot."""
    async with relay.lineups.lock:
        current = relay.settings
        try:
            fresh = await asyncio.to_thread(reread, current)
            settings = msgspec.structs.replace(
                current, providers=fresh.providers, models=fresh.models, routing=fresh.routing
            )
            check_references(settings)  # against the billing rules in force
        except ConfigError as exc:
            raise refused(400, "invalid_config", str(exc)) from None
        report = compare(current, settings, not_reloaded(current, fresh))
        if report.not_reloaded:
            log.warning(
                "changed in the file but not reloaded (restart the process to apply): %s",
                ", ".join(report.not_reloaded),
            )
        if not report.changed:
            log.info("configuration reloaded: no provider, model or routing change")
            return report
        try:
            lineup = await new_lineup(relay, settings)
        except ConfigError as exc:
            raise refused(422, "provider_failed", str(exc)) from None
        hide_new_credentials(current, settings)
        relay.settings = settings
        old = relay.lineups.swap(lineup)  # with the settings, in one step of the loop
        await old.router.stop()
        log.info("configuration reloaded: %s", summary(report))
        return report


def summary(report: ReloadReport) -> str:
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (
            ("models added:", report.models_added),
            ("models removed:", report.models_removed),
            ("models changed:", report.models_changed),
            ("providers started:", report.providers_started),
            ("providers retired:", report.providers_retired),
        )
        if names
    ]
    if report.routing_changed:
        parts.append("routing changed")
    return "; ".join(parts)


_reloads: set[asyncio.Task[None]] = set()


async def _reload_logged(relay: Relay) -> None:
    try:
        await reload_relay(relay)
    except RelayError:
        pass  # refused: said in the log already
    except Exception:
        log.exception("configuration reload failed; the one in force keeps serving")


def reload_on_hangup(relay: Relay) -> None:
    """SIGHUP reloads the configuration (on this process's event loop)."""
    loop = asyncio.get_running_loop()

    def hangup() -> None:
        log.info("SIGHUP: reloading the configuration")
        task = loop.create_task(_reload_logged(relay), name="config-reload")
        _reloads.add(task)
        task.add_done_callback(_reloads.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, hangup)
    except (NotImplementedError, RuntimeError, ValueError):  # not Unix, or not the main thread
        log.warning("SIGHUP cannot be handled here; reload with POST /admin/reload")


def stop_reloading_on_hangup() -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.remove_signal_handler(signal.SIGHUP)
