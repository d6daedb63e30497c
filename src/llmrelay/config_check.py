"""`llmrelay config check FILE [--probe]`: what a configuration would serve, and whether
each deployment answers, before a relay is started (or reloaded) with it.

The file is read by the same parse as `serve` (config.py), so what passes here starts. With
`--probe`, the providers are built and started as the relay builds them (providers/,
routing/catalog.py) and every deployment gets the health checks' one-token request
(routing/probes.py), all at once. Nothing printed holds a credential: base URLs lose their
user and password, and every error is passed through the credential scrubber the relay's
logs use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from llmrelay.config import (
    REMOTE_PROVIDERS,
    ModelConfig,
    Price,
    ProviderConfig,
    Settings,
    load_settings,
)
from llmrelay.protocol.embeddings import embedding_request_from
from llmrelay.protocol.errors import RelayError
from llmrelay.providers import Provider, build_providers
from llmrelay.providers.credentials import Scrubber, all_credentials
from llmrelay.providers.images import ImageFetcher
from llmrelay.routing.catalog import Deployment, ModelCatalog
from llmrelay.routing.probes import completion_probe, probe_call
from llmrelay.tracing import require_otel


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns as wide as their widest cell (the last one left ragged)."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    return [
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in (header, *rows)
    ]


def public_url(url: str, scrub: Scrubber) -> str:
    """`url` as it may be printed: no user or password, no credential in its query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    if parts.username or parts.password:
        host = "***@" + host
    return scrub(urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)))


def provider_place(config: ProviderConfig, scrub: Scrubber) -> str:
    """Where a provider's model is: its base URL, or the embedded model's file."""
    if isinstance(config, REMOTE_PROVIDERS):
        return public_url(config.base_url, scrub)
    return f"embedded: {config.model_path or 'packaged model'}"


def price_text(price: Price | None) -> str:
    if price is None:
        return "-"
    text = f"in {price.input:g} / out {price.output:g}"
    if price.cached_input is not None:
        text += f" / cached {price.cached_input:g}"
    return text


def describe(settings: Settings, path: str) -> list[str]:
    """What a relay started with `settings` would serve: server, providers, models."""
    scrub = Scrubber(all_credentials(settings))
    server = settings.server
    lines = [f"{path}: valid", ""]
    lines.append(f"listens on {server.host}:{server.port}, {server.workers} worker(s)")
    if settings.tracing.otlp_endpoint:
        endpoint = public_url(settings.tracing.otlp_endpoint, scrub)
        lines.append(f"traces go to {endpoint} as {settings.tracing.service_name}")
    lines.append("")
    providers = [
        (name, str(type(config).__struct_config__.tag), provider_place(config, scrub))
        for name, config in settings.providers.items()
    ]
    lines += table(("PROVIDER", "TYPE", "WHERE"), providers)
    lines.append("")
    lines += table(
        ("MODEL", "DEPLOYMENT (provider/upstream model)", "ALIASES", "PRICE USD/1M tokens"),
        [row for name, model in settings.models.items() for row in _model_rows(name, model)],
    )
    return lines


def _model_rows(name: str, model: ModelConfig) -> list[tuple[str, str, str, str]]:
    """One row per deployment; the model's name, aliases and price on its first."""
    rows = []
    for i, deployment in enumerate(model.deployment_list(name)):
        where = f"{deployment.provider}/{deployment.upstream_model or name}"
        if len(model.deployments) > 1:
            where += f" (priority {deployment.priority}, weight {deployment.weight:g})"
        first = i == 0
        rows.append(
            (
                name if first else "",
                where,
                ", ".join(model.aliases) if first and model.aliases else "",
                price_text(model.price) if first else "",
            )
        )
    return rows


@dataclass
class ProbeResult:
    deployment: str
    """`model -> provider/upstream model`."""
    answered: bool
    seconds: float | None
    """How long the one-token request took (None when it was never sent)."""
    error: str = ""


async def probe(settings: Settings, seconds: float) -> list[ProbeResult]:
    """Build and start the providers as the relay does, and probe every deployment."""
    scrub = Scrubber(all_credentials(settings))
    images = ImageFetcher(settings.images)
    providers = build_providers(settings, images)
    try:
        started = await _start(providers, scrub)
        catalog = ModelCatalog.from_settings(settings, providers)
        return await asyncio.gather(
            *(_probe(d, started.get(d.provider.name), seconds, scrub) for d in catalog.deployments)
        )
    finally:
        for provider in providers.values():
            with contextlib.suppress(Exception):  # one that did not start may not close
                await provider.close()
        await images.close()


async def _start(providers: dict[str, Provider], scrub: Scrubber) -> dict[str, str]:
    """Start each provider; the reason, by name, for those that would not."""
    failed: dict[str, str] = {}
    for name, provider in providers.items():
        try:
            await provider.start()
        except Exception as exc:
            failed[name] = scrub(f"provider did not start: {type(exc).__name__}: {exc}")
    return failed


async def _probe(
    deployment: Deployment, start_error: str | None, seconds: float, scrub: Scrubber
) -> ProbeResult:
    name = f"{deployment.model} -> {deployment.provider.name}/{deployment.upstream_model}"
    if start_error is not None:
        return ProbeResult(name, False, None, start_error)
    began = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            await _one_token(deployment)
    except TimeoutError:
        took = time.perf_counter() - began
        return ProbeResult(name, False, took, f"no answer within {seconds:g} s")
    except RelayError as error:
        took = time.perf_counter() - began
        return ProbeResult(name, False, took, _error_text(error, scrub))
    except Exception as exc:
        took = time.perf_counter() - began
        return ProbeResult(name, False, took, scrub(f"{type(exc).__name__}: {exc}"))
    return ProbeResult(name, True, time.perf_counter() - began)


async def _one_token(deployment: Deployment) -> object:
    """A one-token chat completion, or one embedding for a model that only embeds."""
    if deployment.provider.chats:
        return await completion_probe(deployment)
    request = embedding_request_from({"model": deployment.model, "input": "ping"})
    return await deployment.provider.embed(probe_call(deployment, request))


def _error_text(error: RelayError, scrub: Scrubber) -> str:
    """`502 upstream_auth_error (upstream said 401): message`, as a client of the relay
    would be told (the relay's own status and code; the message scrubbed once more)."""
    upstream = getattr(error, "upstream_status", None)
    got = f" (upstream said {upstream})" if upstream is not None else ""
    return f"{error.status} {error.code or error.type}{got}: {scrub(error.message)}"


def probe_table(results: list[ProbeResult]) -> list[str]:
    rows = [
        (
            result.deployment,
            "answered" if result.answered else "FAILED",
            f"{result.seconds * 1000:.0f} ms" if result.seconds is not None else "-",
            result.error,
        )
        for result in results
    ]
    return table(("DEPLOYMENT", "RESULT", "LATENCY", "ERROR"), rows)


def check(path: str, probe_each: bool, timeout: float) -> int:
    """Print what `path` would serve (and, probing, what answers); the exit status."""
    settings = load_settings(path)
    require_otel(settings)
    print("\n".join(describe(settings, path)))
    if not probe_each:
        return 0
    results = asyncio.run(probe(settings, timeout))
    print()
    print("\n".join(probe_table(results)))
    failed = sum(not result.answered for result in results)
    if failed:
        print(f"\n{failed} of {len(results)} deployment(s) did not answer")
        return 1
    print(f"\nevery deployment answered ({len(results)})")
    return 0
