"""Configuration: the embedded default, `${ENV}` interpolation, and errors that name the field."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmrelay.config import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_LOCAL_MODEL,
    ConfigError,
    LocalEmbeddingsProvider,
    LocalProvider,
    OpenAIProvider,
    load_settings,
    parse_settings,
)


def test_no_file_means_the_embedded_local_models() -> None:
    settings = parse_settings(None)
    assert list(settings.models) == [DEFAULT_LOCAL_MODEL, DEFAULT_EMBEDDING_MODEL]
    assert isinstance(settings.providers["local"], LocalProvider)
    assert isinstance(settings.providers["local-embeddings"], LocalEmbeddingsProvider)
    assert settings.server.port == 8080 and settings.server.host == "127.0.0.1"


def test_env_interpolation_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-from-env")
    settings = parse_settings(
        {
            "providers": {
                "up": {
                    "type": "openai",
                    "base_url": "${BASE:-http://127.0.0.1:9/v1}",
                    "api_key": "${UPSTREAM_KEY}",
                }
            },
            "models": {"gpt-5": {"provider": "up"}},
        }
    )
    provider = settings.providers["up"]
    assert isinstance(provider, OpenAIProvider)
    assert provider.api_key == "sk-from-env"
    assert provider.base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {
                "providers": {"up": {"type": "openai", "base_url": "${NOT_SET_ANYWHERE}"}},
                "models": {},
            },
            "$.providers.up.base_url: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            {"providers": {"up": {"type": "openai"}}, "models": {}},
            "Object missing required field `base_url` - at `$.providers.up`",
        ),
        (
            {"providers": {"up": {"type": "openai", "base_url": "ftp://x"}}, "models": {}},
            "$.providers.up.base_url: must start with http:// or https://",
        ),
        (
            {"providers": {"up": {"type": "carrier-pigeon"}}, "models": {}},
            "Invalid value 'carrier-pigeon' - at `$.providers.up.type`",
        ),
        (
            {"providers": {}, "models": {"gpt-5": {"provider": "nowhere"}}},
            "$.models.gpt-5.provider: unknown provider 'nowhere' (known: none)",
        ),
        (
            {"providers": {"l": {"type": "local", "queue_size": 0}}, "models": {}},
            "$.providers.l.queue_size: must be at least 1",
        ),
        (
            {"providers": {"l": {"type": "local", "colour": "red"}}, "models": {}},
            "Object contains unknown field `colour` - at `$.providers.l`",
        ),
        ({"server": {"port": "eighty"}}, "Expected `int`, got `str` - at `$.server.port`"),
        (
            {"server": {"trusted_proxies": ["10.0.0.0/8", "10.1.2.3/16"]}},
            "$.server.trusted_proxies[1]: 10.1.2.3/16 has host bits set; "
            "expected an IP address or a network like 10.0.0.0/8",
        ),
        (
            {"server": {"trusted_proxies": ["load-balancer.internal"]}},
            "$.server.trusted_proxies[0]: 'load-balancer.internal' does not appear to be an "
            "IPv4 or IPv6 network; expected an IP address or a network like 10.0.0.0/8",
        ),
        (
            {"server": {"trusted_proxies": "10.0.0.0/8"}},
            "Expected `array`, got `str` - at `$.server.trusted_proxies`",
        ),
        (["not", "a", "mapping"], "$: the configuration must be a mapping"),
        ({"server": {"drain_seconds": -1}}, "$.server.drain_seconds: must not be negative"),
        ({"source": {"path": "/elsewhere"}}, "$: unknown section(s): source"),
    ],
)
def test_bad_config_says_which_field_and_what_is_wrong(document, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(document)
    assert str(caught.value) == message


def test_environment_overrides(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMRELAY_PORT", "9191")
    monkeypatch.setenv("LLMRELAY_HOST", "0.0.0.0")
    monkeypatch.setenv("LLMRELAY_DATA_DIR", str(tmp_path))
    settings = load_settings(None)
    assert (settings.server.port, settings.server.host) == (9191, "0.0.0.0")
    assert settings.database_url.endswith(f"{tmp_path}/llmrelay.db")
    assert load_settings(None, port=7000).server.port == 7000


def test_serve_refuses_a_bad_config_with_the_field_named(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  up:\n    type: openai\n    base_url: 42\nmodels: {}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmrelay",
            "serve",
            "--config",
            str(bad),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "$.providers.up.base_url" in result.stderr


def test_unreadable_and_invalid_yaml(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path) -> None:
    broken = tmp_path / "relay.yaml"
    broken.write_text("server:\n  port: 8080\n models: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(broken)
    message = str(caught.value)
    assert f'in "{broken}", line 3' in message
    assert "<unicode string>" not in message


def test_one_gguf_line_serves_a_local_model_file() -> None:
    settings = parse_settings({"models": {"qwen": {"gguf": "/models/qwen.gguf", "aliases": ["q"]}}})
    assert list(settings.models) == ["qwen"]
    assert settings.models["qwen"].provider == "qwen"
    assert settings.models["qwen"].aliases == ["q"]
    provider = settings.providers["qwen"]
    assert isinstance(provider, LocalProvider) and provider.model_path == "/models/qwen.gguf"


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ({"models": {"m": {"gguf": "m.gguf", "provider": "x"}}}, "$.models.m"),
        (
            {
                "providers": {"m": {"type": "local"}},
                "models": {"m": {"gguf": "m.gguf"}},
            },
            "$.models.m.gguf",
        ),
    ],
)
def test_gguf_conflicts_name_the_model(document, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace("$", r"\$")):
        parse_settings(document)


def test_stored_responses_expiry() -> None:
    assert parse_settings(None).responses.store_ttl_days == 30
    assert parse_settings({"responses": {"store_ttl_days": 0.5}}).responses.store_ttl_days == 0.5
    for bad in (0, -1):
        with pytest.raises(ConfigError, match=r"\$\.responses\.store_ttl_days"):
            parse_settings({"responses": {"store_ttl_days": bad}})
    with pytest.raises(ConfigError, match=r"\$\.responses"):
        parse_settings({"responses": {"ttl": 3}})


def test_trusted_proxies_take_addresses_and_networks() -> None:
    assert parse_settings(None).server.trusted_proxies == []
    networks = ["10.0.0.0/8", "127.0.0.1", "2001:db8::/32", "::1"]
    settings = parse_settings({"server": {"trusted_proxies": networks}})
    assert settings.server.trusted_proxies == networks
