"""Upstream adapters, one module per wire format; each registers itself by `kind`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llmrelay.config import LocalEmbeddingsProvider, LocalProvider, Settings
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

__all__ = ["Provider", "build_local_providers", "build_providers"]

HOSTED = (LocalProvider, LocalEmbeddingsProvider)
"""The providers whose model runs on this machine: a model host may serve them."""


def _used(settings: Settings) -> set[str]:
    return {
        deployment.provider
        for name, model in settings.models.items()
        for deployment in model.deployment_list(name)
    }


def _model_host_link() -> HostLink | None:
    socket = os.environ.get(MODEL_HOST_ENV)
    if not socket:
        return None
    from llmrelay.providers.host_link import HostLink

    return HostLink(socket)


def build_providers(
    settings: Settings, images: ImageFetcher | None = None, only_used: bool = True
) -> dict[str, Provider]:
    """One Provider per configured provider (only those some model uses, by default).

    Providers whose vendor needs images inline get the shared, SSRF-guarded `images` fetcher.
    With `LLMRELAY_MODEL_HOST` naming a model host's socket, the embedded models are that
    host's (one connection for all of them), not loaded here.
    """
    used = _used(settings)
    link = _model_host_link()
    built: dict[str, Provider] = {}
    for name, config in settings.providers.items():
        if only_used and name not in used:
            continue
        if link is not None and isinstance(config, HOSTED):
            from llmrelay.providers.local_remote import hosted_provider

            built[name] = hosted_provider(name, config, link)
            continue
        kind = type(config).__struct_config__.tag
        cls = Provider.registry[kind]
        if cls.uses_image_fetcher:
            built[name] = cls(name, config, images=images)  # type: ignore[call-arg]
        else:
            built[name] = cls(name, config)  # type: ignore[call-arg]
    return built


def build_local_providers(settings: Settings) -> dict[str, Provider]:
    """The embedded models some model uses, loaded here: what a model host serves."""
    used = _used(settings)
    return {
        name: Provider.registry[type(config).__struct_config__.tag](name, config)  # type: ignore[call-arg]
        for name, config in settings.providers.items()
        if name in used and isinstance(config, HOSTED)
    }
