"""Tracing's edges, on real relay processes: the spans still batched at SIGTERM are sent before
the relay exits; a relay asked to trace without OpenTelemetry installed refuses to start and
says what to install; and a relay not asked to trace never imports OpenTelemetry."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ADMIN, ADMIN_KEY, relay_env, start_relay, stop_relay
from tests.mocks.openai_upstream import MockOpenAI
from tests.mocks.otlp_receiver import OTLPReceiver

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockOpenAI]:
    mock = MockOpenAI()
    mock.start()
    yield mock
    mock.stop()


def config(mock: MockOpenAI, tracing: dict[str, Any] | None = None) -> dict[str, Any]:
    provider = {"type": "openai", "base_url": mock.base_url, "api_key": "${MOCK_UPSTREAM_KEY}"}
    document: dict[str, Any] = {
        "providers": {"mock": provider},
        "models": {"gpt-5": {"provider": "mock", "upstream_model": "mock-echo"}},
    }
    if tracing is not None:
        document["tracing"] = tracing
    return document


def shadowed_opentelemetry(directory: Path, body: str) -> str:
    """A PYTHONPATH on which `opentelemetry` is a package of our own, holding `body` (and
    none of the SDK), ahead of the installed one."""
    package = directory / "shadow" / "opentelemetry"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    return os.pathsep.join([str(package.parent), os.environ.get("PYTHONPATH", "")])


def test_spans_still_batched_at_sigterm_are_sent_before_the_relay_exits(
    upstream: MockOpenAI, tmp_path: Path
) -> None:
    receiver = OTLPReceiver()
    receiver.start()
    try:
        # The SDK's default batch interval (5 s): only the flush at shutdown sends them in time.
        relay = start_relay(
            config(upstream, {"otlp_endpoint": receiver.url}),  # a bare URL gets /v1/traces
            tmp_path,
            LLMRELAY_ADMIN_KEY=ADMIN_KEY,
        )
        try:
            response = httpx.post(
                relay.base_url + "/chat/completions",
                json={"model": "gpt-5", "messages": HELLO},
                headers=ADMIN,
                timeout=30,
            )
            assert response.status_code == 200
        finally:
            stop_relay(relay)
        assert relay.process.returncode == 0
        span = receiver.request_span(response.headers["x-request-id"])
        assert span is not None and span.name == "POST /v1/chat/completions"
        assert span.resource["service.name"] == "llmrelay"
    finally:
        receiver.stop()


def test_tracing_without_opentelemetry_installed_refuses_to_start(
    upstream: MockOpenAI, tmp_path: Path
) -> None:
    config_path = tmp_path / "config.yaml"
    tracing = {"otlp_endpoint": "http://127.0.0.1:4318/v1/traces"}
    config_path.write_text(yaml.safe_dump(config(upstream, tracing)))
    env = relay_env(PYTHONPATH=shadowed_opentelemetry(tmp_path, ""))
    for command in (
        ["serve", "--config", str(config_path), "--data-dir", str(tmp_path / "data")],
        ["config", "check", str(config_path)],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "llmrelay", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert "tracing.otlp_endpoint" in result.stderr
        assert "pip install 'llmrelay[otel]'" in result.stderr


def test_a_relay_without_tracing_never_imports_opentelemetry(
    upstream: MockOpenAI, tmp_path: Path
) -> None:
    pythonpath = shadowed_opentelemetry(
        tmp_path, "raise ImportError('opentelemetry imported with tracing off')\n"
    )
    env = {"LLMRELAY_ADMIN_KEY": ADMIN_KEY, "PYTHONPATH": pythonpath}
    relay = start_relay(config(upstream), tmp_path, **env)
    try:
        for stream in (False, True):
            response = httpx.post(
                relay.base_url + "/chat/completions",
                json={"model": "gpt-5", "messages": HELLO, "stream": stream},
                headers=ADMIN,
                timeout=30,
            )
            assert response.status_code == 200
        assert "traceparent" not in upstream.last().headers
    finally:
        stop_relay(relay)
    assert "opentelemetry imported" not in relay.log()
