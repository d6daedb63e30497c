"""The model catalog: public model names (and aliases), and the deployments that serve each."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from llmrelay.config import ModelConfig, Settings, Timeouts
from llmrelay.metering.ledger import ENDPOINTS
from llmrelay.protocol.errors import RelayError, model_not_found
from llmrelay.protocol.reasoning import ReasoningIntent, split_model_suffix
from llmrelay.providers.base import Provider, serves
from llmrelay.routing import events
from llmrelay.routing.health import CircuitBreaker
from llmrelay.store.keys import ApiKey


@dataclass(slots=True, eq=False)
class Deployment:
    """One place a public model is served: a provider and the name it knows the model by."""

    model: str
    config: ModelConfig
    provider: Provider
    upstream_model: str
    weight: float
    priority: int
    timeouts: Timeouts | None
    """The model's own timeouts over the provider's, when the model sets any."""
    breaker: CircuitBreaker

    def __post_init__(self) -> None:
        self.breaker.on_open = self.cooled_down

    @property
    def label(self) -> str:
        """The deployment's name in metrics and logs: `provider/upstream_model`."""
        return f"{self.provider.name}/{self.upstream_model}"

    def cooled_down(self, seconds: float) -> None:
        events.cooled_down(self, seconds)

    def status(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider.name,
            "upstream_model": self.upstream_model,
            "priority": self.priority,
            "weight": self.weight,
            "state": self.breaker.state,
            "cooldown_remaining_seconds": round(self.breaker.cooldown_remaining(), 3),
            "consecutive_failures": self.breaker.consecutive_failures,
        }


class ModelCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a request to the model may hold and be sure every deployment takes."""

    vision: bool
    """Image content: the model is configured with `vision: true` and no deployment's
    provider is text-only."""
    reasoning: bool
    """Thinking: configured with `reasoning: true` (reasoning suffixes and efforts apply)."""
    tools: bool
    """`tools`: no deployment's provider refuses them."""
    endpoints: list[str]
    """The doors whose requests every deployment answers (`chat`, `messages`, `responses`,
    `embeddings`, `completions`)."""


@dataclass(slots=True)
class ModelEntry:
    name: str
    deployments: list[Deployment]
    config: ModelConfig
    owned_by: str
    created: int
    fallbacks: list[ModelEntry] = field(default_factory=list)
    """Tried after every deployment failed (connection errors, timeouts, 429, 5xx)."""
    refusal_fallbacks: dict[str, list[ModelEntry]] = field(default_factory=dict)
    """By refusal kind (`context_length`, `content_filter`): tried when an upstream refuses."""
    priced_models: list[ModelConfig] = field(default_factory=list)
    """This model and every model it may fall back to: a request may cost any of them (set
    once with the fallbacks; the gate reads it on every budgeted request)."""

    def __post_init__(self) -> None:
        self.link_fallbacks(self.fallbacks, self.refusal_fallbacks)

    def link_fallbacks(
        self, fallbacks: list[ModelEntry], refusal_fallbacks: dict[str, list[ModelEntry]]
    ) -> None:
        self.fallbacks = fallbacks
        self.refusal_fallbacks = refusal_fallbacks
        others = [*fallbacks, *(f for fs in refusal_fallbacks.values() for f in fs)]
        self.priced_models = [self.config, *(fallback.config for fallback in others)]

    @property
    def capabilities(self) -> ModelCapabilities:
        """What this model can do wherever the router sends a request (every deployment)."""
        providers = [deployment.provider for deployment in self.deployments]
        return ModelCapabilities(
            vision=self.config.vision and all(p.takes_images for p in providers),
            reasoning=self.config.reasoning,
            tools=all(p.takes_tools for p in providers),
            endpoints=[e for e in ENDPOINTS if all(serves(p, e) for p in providers)],
        )

    @property
    def context_length(self) -> int | None:
        """Tokens of context: as configured, else the smallest a local engine serving it
        holds (`context_size`, or an embedding model's `max_length`); None when unknown."""
        if self.config.context_length is not None:
            return self.config.context_length
        sizes = [_engine_context(d.provider) for d in self.deployments]
        known = [size for size in sizes if size is not None]
        return min(known) if known and len(known) == len(sizes) else None

    def card(self, name: str | None = None) -> dict[str, Any]:
        """The model in OpenAI's `GET /v1/models` shape, plus the doors it answers and its
        context length (as OpenRouter lists it)."""
        return {
            "id": name or self.name,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
            "endpoints": self.capabilities.endpoints,
            "context_length": self.context_length,
        }


def _engine_context(provider: Provider) -> int | None:
    config = getattr(provider, "config", None)
    size = getattr(config, "context_size", None) or getattr(config, "max_length", None)
    return size if isinstance(size, int) else None


@dataclass(slots=True, frozen=True)
class ResolvedModel:
    entry: ModelEntry
    reasoning: ReasoningIntent | None
    """What the model name's suffix asked for, if it had one."""


def _timeouts(model: ModelConfig, provider: Provider) -> Timeouts | None:
    base = getattr(getattr(provider, "config", None), "timeouts", None)
    if model.timeouts is None or base is None:
        return None
    return model.timeouts.over(base)


def _entry(
    name: str, model: ModelConfig, settings: Settings, providers: dict[str, Provider], created: int
) -> ModelEntry:
    deployments = [
        Deployment(
            model=name,
            config=model,
            provider=providers[d.provider],
            upstream_model=d.upstream_model or name,
            weight=d.weight,
            priority=d.priority,
            timeouts=_timeouts(model, providers[d.provider]),
            breaker=CircuitBreaker(settings.routing.breaker),
        )
        for d in model.deployment_list(name)
    ]
    owner = model.owned_by or deployments[0].provider.name
    return ModelEntry(name, deployments, model, owner, created)


class ModelCatalog:
    def __init__(self, entries: dict[str, ModelEntry], aliases: dict[str, str]) -> None:
        self.entries = entries
        self.aliases = aliases

    @classmethod
    def from_settings(cls, settings: Settings, providers: dict[str, Provider]) -> ModelCatalog:
        created = int(time.time())
        entries = {
            name: _entry(name, model, settings, providers, created)
            for name, model in settings.models.items()
        }
        for name, entry in entries.items():
            lists = settings.models[name].fallback_lists()
            entry.link_fallbacks(
                [entries[f] for f in lists.default],
                {
                    kind: [entries[f] for f in names]
                    for kind, names in lists.lists().items()
                    if kind != "default" and names
                },
            )
        aliases = {
            alias: name for name, model in settings.models.items() for alias in model.aliases
        }
        return cls(entries, aliases)

    def lookup(self, name: str) -> ModelEntry | None:
        """The entry a public name or alias stands for."""
        return self.entries.get(self.aliases.get(name, name))

    def resolve(self, model: str, key: ApiKey) -> ResolvedModel:
        """The entry for `model` if this key may use it, else 404 `model_not_found`.

        A reasoning suffix (`-thinking`, `-high`...) on a model configured with
        `reasoning: true` selects that model with the suffix's reasoning intent.
        """
        entry = self.lookup(model)
        if entry is not None:
            if not (key.may_use(model) or key.may_use(entry.name)):
                raise self.not_found(model, key)
            return ResolvedModel(entry, None)
        split = split_model_suffix(model)
        if split is not None:
            base, intent = split
            entry = self.lookup(base)
            if entry is not None and entry.config.reasoning and key.may_use(entry.name):
                return ResolvedModel(entry, intent)
        raise self.not_found(model, key)

    def not_found(self, model: str, key: ApiKey) -> RelayError:
        """404 `model_not_found`, naming the models this key may use that `model` is near."""
        return model_not_found(model, (name for name, _ in self.visible_to(key)))

    def visible_to(self, key: ApiKey) -> list[tuple[str, ModelEntry]]:
        """Every public name and alias this key may use, with its entry."""
        names = [(name, entry) for name, entry in self.entries.items()]
        names += [(alias, self.entries[name]) for alias, name in self.aliases.items()]
        return [(name, entry) for name, entry in names if key.may_use(entry.name)]

    @property
    def deployments(self) -> list[Deployment]:
        return [d for entry in self.entries.values() for d in entry.deployments]
