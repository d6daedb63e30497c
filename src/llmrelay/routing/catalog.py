"""The model catalog: public model names, and the deployment that serves each."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from llmrelay.config import ModelConfig, Settings
from llmrelay.protocol.errors import model_not_found
from llmrelay.protocol.reasoning import ReasoningIntent, split_model_suffix
from llmrelay.providers.base import Provider
from llmrelay.store.keys import ApiKey


@dataclass(slots=True, frozen=True)
class Deployment:
    """One place a public model is served: a provider and the name it knows the model by."""

    provider: Provider
    upstream_model: str


@dataclass(slots=True, frozen=True)
class ModelEntry:
    name: str
    deployment: Deployment
    config: ModelConfig
    owned_by: str
    created: int

    def card(self) -> dict[str, Any]:
        """The model in OpenAI's `GET /v1/models` shape."""
        return {
            "id": self.name,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
        }


@dataclass(slots=True, frozen=True)
class ResolvedModel:
    entry: ModelEntry
    reasoning: ReasoningIntent | None
    """What the model name's suffix asked for, if it had one."""


class ModelCatalog:
    def __init__(self, entries: dict[str, ModelEntry]) -> None:
        self.entries = entries

    @classmethod
    def from_settings(cls, settings: Settings, providers: dict[str, Provider]) -> ModelCatalog:
        created = int(time.time())
        entries = {}
        for name, model in settings.models.items():
            deployment = Deployment(providers[model.provider], model.upstream_model or name)
            entries[name] = ModelEntry(
                name=name,
                deployment=deployment,
                config=model,
                owned_by=model.owned_by or model.provider,
                created=created,
            )
        return cls(entries)

    def resolve(self, model: str, key: ApiKey) -> ResolvedModel:
        """The entry for `model` if this key may use it, else 404 `model_not_found`.

        A reasoning suffix (`-thinking`, `-high`...) on a model configured with
        `reasoning: true` selects that model with the suffix's reasoning intent.
        """
        entry = self.entries.get(model)
        if entry is not None:
            if not key.may_use(model):
                raise model_not_found(model)
            return ResolvedModel(entry, None)
        split = split_model_suffix(model)
        if split is not None:
            base, intent = split
            entry = self.entries.get(base)
            if entry is not None and entry.config.reasoning and key.may_use(base):
                return ResolvedModel(entry, intent)
        raise model_not_found(model)

    def visible_to(self, key: ApiKey) -> list[ModelEntry]:
        return [entry for name, entry in self.entries.items() if key.may_use(name)]

    @property
    def providers(self) -> list[Provider]:
        seen: dict[int, Provider] = {}
        for entry in self.entries.values():
            seen.setdefault(id(entry.deployment.provider), entry.deployment.provider)
        return list(seen.values())
