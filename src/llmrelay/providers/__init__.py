"""Upstream adapters, one module per wire format; each registers itself by `kind`."""

from __future__ import annotations

from llmrelay.config import ProviderConfig, Settings

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

__all__ = ["Provider", "build_provider", "build_providers", "used_providers"]


def used_providers(settings: Settings) -> set[str]:
    """The providers some model's deployment names."""
    return {
        deployment.provider
        for name, model in settings.models.items()
        for deployment in model.deployment_list(name)
    }


def build_provider(name: str, config: ProviderConfig, images: ImageFetcher | None) -> Provider:
    """The Provider for one configured provider (built, not started).

    Providers whose vendor needs images inline get the shared, SSRF-guarded `images` fetcher.
    """
    cls = Provider.registry[type(config).__struct_config__.tag]
    if cls.uses_image_fetcher:
        return cls(name, config, images=images)  # type: ignore[call-arg]
    return cls(name, config)  # type: ignore[call-arg]


def build_providers(
    settings: Settings, images: ImageFetcher | None = None, only_used: bool = True
) -> dict[str, Provider]:
    """One Provider per configured provider (only those some model uses, by default)."""
    used = used_providers(settings)
    return {
        name: build_provider(name, config, images)
        for name, config in settings.providers.items()
        if name in used or not only_used
    }
