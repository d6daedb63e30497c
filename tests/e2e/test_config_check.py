"""`llmrelay config check FILE [--probe]`, run as an operator runs it: a subprocess, against a
configuration whose providers are mock upstreams on real sockets: one healthy, one that
refuses the relay's key (401), and one where nothing listens."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port, relay_env
from tests.mocks.openai_upstream import UPSTREAM_KEY, MockOpenAI

WRONG_KEY = "sk-wrong-upstream-key-for-the-check-0123456789"


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockOpenAI]:
    mock = MockOpenAI()
    mock.start()
    yield mock
    mock.stop()


def three_upstreams(mock: MockOpenAI) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 5, "idle": 5, "total": 10}
    return {
        "providers": {
            "healthy": {
                "type": "openai",
                "base_url": mock.base_url,
                "api_key": "${MOCK_UPSTREAM_KEY}",
                "timeouts": fast,
            },
            "denied": {
                "type": "openai",
                "base_url": mock.base_url,
                "api_key": WRONG_KEY,
                "timeouts": fast,
            },
            "offline": {
                "type": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "${MOCK_UPSTREAM_KEY}",
                "timeouts": fast,
            },
        },
        "models": {
            "gpt-5": {
                "provider": "healthy",
                "upstream_model": "mock-echo",
                "aliases": ["gpt5", "best"],
                "price": {"input": 1.25, "output": 10, "cached_input": 0.125},
            },
            "spread": {
                "deployments": [
                    {"provider": "denied", "upstream_model": "mock-echo", "priority": 0},
                    {"provider": "offline", "upstream_model": "mock-echo", "priority": 1},
                ],
            },
        },
    }


def check(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmrelay", "config", "check", str(path), *flags],
        capture_output=True,
        text=True,
        env=relay_env(),
        timeout=120,
    )


def written(directory: Path, document: dict[str, Any]) -> Path:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def rows(output: str, header: str) -> dict[str, list[str]]:
    """The table under `header`'s line, by its first column (split on runs of 2+ spaces)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    table: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = [cell for cell in line.split("  ") if cell.strip()]
        table[cells[0].strip()] = [cell.strip() for cell in cells[1:]]
    return table


def test_without_probe_it_prints_what_it_would_serve(upstream: MockOpenAI, tmp_path: Path) -> None:
    document = three_upstreams(upstream)
    document["providers"]["healthy"]["base_url"] = (
        f"http://relay-user:hunter2-password-xyz@127.0.0.1:{upstream.port}/v1"
    )
    result = check(written(tmp_path, document))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "valid" in out.splitlines()[0]
    providers = rows(out, "PROVIDER")
    assert providers["healthy"] == ["openai", f"http://***@127.0.0.1:{upstream.port}/v1"]
    assert providers["denied"] == ["openai", upstream.base_url]
    models = rows(out, "MODEL")
    assert models["gpt-5"] == [
        "healthy/mock-echo",
        "gpt5, best",
        "in 1.25 / out 10 / cached 0.125",
    ]
    assert models["spread"][0] == "denied/mock-echo (priority 0, weight 1)"
    assert "offline/mock-echo (priority 1, weight 1)" in out
    for secret in (UPSTREAM_KEY, WRONG_KEY, "hunter2-password-xyz", "relay-user"):
        assert secret not in out + result.stderr


def test_probe_tells_what_answered_how_fast_and_why_not(
    upstream: MockOpenAI, tmp_path: Path
) -> None:
    sent_before = len(upstream.received)
    result = check(written(tmp_path, three_upstreams(upstream)), "--probe")
    assert result.returncode == 1, result.stdout + result.stderr
    probes = rows(result.stdout, "DEPLOYMENT  ")
    assert set(probes) == {
        "gpt-5 -> healthy/mock-echo",
        "spread -> denied/mock-echo",
        "spread -> offline/mock-echo",
    }
    answered = probes["gpt-5 -> healthy/mock-echo"]
    assert answered[0] == "answered" and answered[1].endswith(" ms") and len(answered) == 2
    denied = probes["spread -> denied/mock-echo"]
    assert denied[0] == "FAILED"
    assert denied[2].startswith("502 upstream_auth_error (upstream said 401): ")
    offline = probes["spread -> offline/mock-echo"]
    assert offline[0] == "FAILED" and "could not be reached" in offline[2]
    assert "2 of 3 deployment(s) did not answer" in result.stdout
    for secret in (UPSTREAM_KEY, WRONG_KEY):
        assert secret not in result.stdout + result.stderr
    probes_sent = upstream.received[sent_before:]
    assert {request.body["max_tokens"] for request in probes_sent} == {1}
    assert len(probes_sent) == 2  # the healthy and the denied one; nothing reached "offline"


def test_probe_exits_zero_when_every_deployment_answers(
    upstream: MockOpenAI, tmp_path: Path
) -> None:
    document = three_upstreams(upstream)
    del document["models"]["spread"]
    result = check(written(tmp_path, document), "--probe")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every deployment answered (1)" in result.stdout


def test_an_invalid_configuration_is_refused_naming_the_field(tmp_path: Path) -> None:
    document = {"providers": {"p": {"type": "openai", "base_url": 42}}, "models": {}}
    result = check(written(tmp_path, document))
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "$.providers.p.base_url" in result.stderr
    assert result.stdout == ""


def test_a_model_naming_an_unknown_provider_is_refused(tmp_path: Path) -> None:
    result = check(written(tmp_path, {"models": {"m": {"provider": "nowhere"}}}))
    assert result.returncode == 2
    assert "nowhere" in result.stderr


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    result = check(tmp_path / "absent.yaml")
    assert result.returncode == 2
    assert "cannot read config file" in result.stderr
