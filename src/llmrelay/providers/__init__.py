"""Upstream adapters, one module per wire format; each registers itself by `kind`."""

from __future__ import annotations

from llmrelay.config import Settings

# Importing each adapter module registers its `kind`.
from llmrelay.providers import (  # noqa: F401
    anthropic,
    gemini,
    local,
    local_embeddings,
    openai,
)
from llmrelay.providers.base import Provider
from llmrelay.providers.images import ImageFetcher

__all__ = ["Provider", "build_providers"]


def build_providers(
    settings: Settings, images: ImageFetcher | None = None, only_used: bool = True
) -> dict[str, Provider]:
    """One Provider per configured provider (only those some model uses, by default).

    Providers whose vendor needs images inline get the shared, SSRF-guarded `images` fetcher.
    """
    used = {
        deployment.provider
        for name, model in settings.models.items()
        for deployment in model.deployment_list(name)
    }
    built: dict[str, Provider] = {}
    for name, config in settings.providers.items():
        if only_used and name not in used:
            continue
        kind = type(config).__struct_config__.tag
        cls = Provider.registry[kind]
        if cls.uses_image_fetcher:
            built[name] = cls(name, config, images=images)  # type: ignore[call-arg]
        else:
            built[name] = cls(name, config)  # type: ignore[call-arg]
    return built
