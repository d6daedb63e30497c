"""Upstream adapters, one module per wire format; each registers itself by `kind`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llmrelay.config import LocalEmbeddingsProvider, LocalProvider, ProviderConfig, Settings
from llmrelay.model_host import MODEL_HOST_ENV

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

if TYPE_CHECKING:
    from llmrelay.providers.host_link import HostLink

__all__ = [
    "Provider",
    "build_local_providers",
    "build_provider",
    "build_providers",
    "used_providers",
]

HOSTED = (LocalProvider, LocalEmbeddingsProvider)
"""The providers whose model runs on this machine: a model host may serve them."""
_links: dict[str, HostLink] = {}
"""The model host's one connection, shared by every hosted provider (and by the ones a
reload builds: it closes when the last of them does)."""


def used_providers(settings: Settings) -> set[str]:
    """The providers some model's deployment names."""
    return {
        deployment.provider
        for name, model in settings.models.items()
        for deployment in model.deployment_list(name)
    }


def _model_host_link() -> HostLink | None:
    socket = os.environ.get(MODEL_HOST_ENV)
    if not socket:
        return None
    link = _links.get(socket)
    if link is None:
        from llmrelay.providers.host_link import HostLink

        link = _links[socket] = HostLink(socket)
    return link


def build_provider(name: str, config: ProviderConfig, images: ImageFetcher | None) -> Provider:
    """The Provider for one configured provider (built, not started).

    Providers whose vendor needs images inline get the shared, SSRF-guarded `images` fetcher.
    With `LLMRELAY_MODEL_HOST` naming a model host's socket, an embedded model is that
    host's, not loaded here.
    """
    link = _model_host_link() if isinstance(config, HOSTED) else None
    if link is not None:
        from llmrelay.providers.local_remote import hosted_provider

        return hosted_provider(name, config, link)  # type: ignore[arg-type]
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


def build_local_providers(settings: Settings) -> dict[str, Provider]:
    """The embedded models some model uses, loaded here: what a model host serves."""
    used = used_providers(settings)
    return {
        name: Provider.registry[type(config).__struct_config__.tag](name, config)  # type: ignore[call-arg]
        for name, config in settings.providers.items()
        if name in used and isinstance(config, HOSTED)
    }
