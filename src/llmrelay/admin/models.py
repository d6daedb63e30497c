"""`GET /admin/models`: every public model, what it can do, what it costs, how it fares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, json_response
from llmrelay.admin.shapes import (
    DeploymentHealth,
    ModelInfo,
    ModelList,
    ModelPrice,
)
from llmrelay.config import Price
from llmrelay.routing.catalog import Deployment, ModelCatalog, ModelEntry
from llmrelay.store.keys import ApiKey

if TYPE_CHECKING:
    from llmrelay.relay import Relay


def model_price(price: Price | None) -> ModelPrice | None:
    """The price as charged: cached input and cache writes cost `input` unless priced apart."""
    if price is None:
        return None
    return ModelPrice(
        input=price.input,
        output=price.output,
        cached_input=price.cached_input_rate,
        cache_write=price.cache_write_rate,
    )


def deployment_health(deployment: Deployment) -> DeploymentHealth:
    breaker = deployment.breaker
    return DeploymentHealth(
        provider=deployment.provider.name,
        upstream_model=deployment.upstream_model,
        priority=deployment.priority,
        weight=deployment.weight,
        state=breaker.state,
        cooldown_remaining_seconds=round(breaker.cooldown_remaining(), 3),
        consecutive_failures=breaker.consecutive_failures,
    )


def model_info(entry: ModelEntry, aliases: list[str]) -> ModelInfo:
    config = entry.config
    first = min(entry.deployments, key=lambda d: d.priority)
    return ModelInfo(
        id=entry.name,
        owned_by=entry.owned_by,
        description=config.description,
        aliases=aliases,
        provider=first.provider.name,
        capabilities=entry.capabilities,
        context_length=entry.context_length,
        price=model_price(config.price),
        health=[deployment_health(d) for d in entry.deployments],
    )


def model_infos(catalog: ModelCatalog, key: ApiKey | None = None) -> list[ModelInfo]:
    """Every model in `catalog` (the one in force: a reload replaces it) with its aliases,
    or only those `key` may use; what `/admin/models` and the `/models` page show."""
    aliases: dict[str, list[str]] = {name: [] for name in catalog.entries}
    for alias, name in catalog.aliases.items():
        aliases[name].append(alias)
    return [
        model_info(entry, aliases[name])
        for name, entry in catalog.entries.items()
        if key is None or key.may_use(name)
    ]


def model_endpoints(relay: Relay) -> list[Endpoint]:
    async def list_models(_request: Request) -> Response:
        return json_response(ModelList(data=model_infos(relay.catalog)))

    return [
        Endpoint(
            "GET", "/admin/models", list_models,
            "Every model: provider, capabilities, price and deployment health", ModelList,
        )
    ]  # fmt: skip
