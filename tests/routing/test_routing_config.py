"""The routing parts of the configuration: fallbacks by kind, active health checks."""

from __future__ import annotations

from typing import Any

import pytest

from llmrelay.config import ConfigError, Fallbacks, HealthCheckConfig, parse_settings
from llmrelay.providers import build_providers
from llmrelay.providers.images import ImageFetcher
from llmrelay.routing.catalog import ModelCatalog


def document(fallbacks: Any, **routing: Any) -> dict[str, Any]:
    up = {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}
    return {
        "routing": routing,
        "providers": {"up": up},
        "models": {
            "small": {"provider": "up", "fallbacks": fallbacks},
            "big": {"provider": "up"},
            "other": {"provider": "up"},
        },
    }


def test_a_plain_list_is_the_default_fallbacks() -> None:
    model = parse_settings(document(["big", "other"])).models["small"]
    assert model.fallback_lists() == Fallbacks(default=["big", "other"])


def test_fallbacks_by_kind() -> None:
    lists = {"default": ["other"], "context_length": ["big"], "content_filter": ["other", "big"]}
    settings = parse_settings(document(lists))
    assert settings.models["small"].fallback_lists() == Fallbacks(**lists)
    catalog = ModelCatalog.from_settings(settings, _providers(settings))
    small = catalog.entries["small"]
    assert [f.name for f in small.fallbacks] == ["other"]
    names = {kind: [f.name for f in fs] for kind, fs in small.refusal_fallbacks.items()}
    assert names == {"context_length": ["big"], "content_filter": ["other", "big"]}


def test_a_kind_alone_leaves_the_others_empty() -> None:
    settings = parse_settings(document({"context_length": ["big"]}))
    catalog = ModelCatalog.from_settings(settings, _providers(settings))
    small = catalog.entries["small"]
    assert small.fallbacks == [] and list(small.refusal_fallbacks) == ["context_length"]


@pytest.mark.parametrize(
    ("fallbacks", "message"),
    [
        ({"context_length": ["nope"]}, "$.models.small.fallbacks.context_length: 'nope'"),
        ({"content_filter": ["small"]}, "$.models.small.fallbacks.content_filter: 'small'"),
        (["nope"], "$.models.small.fallbacks: 'nope'"),
        ({"too_long": ["big"]}, "too_long"),
        ("big", "$.models.small.fallbacks"),
    ],
)
def test_bad_fallbacks_are_named(fallbacks: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(document(fallbacks))
    assert message in str(caught.value)


def test_health_checks_are_off_unless_set() -> None:
    assert parse_settings(document([])).routing.health_check is None
    on = parse_settings(document([], health_check={"interval_seconds": 2}))
    assert on.routing.health_check == HealthCheckConfig(interval_seconds=2, timeout_seconds=5)


@pytest.mark.parametrize("check", [{"interval_seconds": 0}, {"timeout_seconds": -1}])
def test_health_check_times_must_be_positive(check: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="health_check"):
        parse_settings(document([], health_check=check))


def _providers(settings: Any) -> dict[str, Any]:
    return build_providers(settings, ImageFetcher(settings.images))
