"""Shared fixtures: a mock OpenAI upstream, and the real relay as a subprocess on a real socket."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa
import yaml

from llmrelay.gate.limit_book import WINDOW_SECONDS
from tests.mocks.openai_upstream import UPSTREAM_KEY, MockOpenAI

ADMIN_KEY = "sk-test-admin-key-0123456789-abcdefghijklmnopqrstuv"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
OUTPUT = Path(__file__).parent / "output"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy (eventual consistency, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_for_text(read, needle: str, timeout: float = 60.0) -> str:
    """Poll `read()` until its text contains `needle`; returns that text."""

    def found() -> str | None:
        text = read()
        return text if needle in text else None

    return wait_until(found, timeout)


@dataclass
class RunningRelay:
    url: str
    data_dir: Path
    config_path: Path
    process: subprocess.Popen
    log_path: Path

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "llmrelay",
                *args,
                "--config",
                str(self.config_path),
                "--data-dir",
                str(self.data_dir),
            ],
            capture_output=True,
            text=True,
            check=check,
            env=relay_env(),
        )

    def create_key(self, name: str, models: str | None = None) -> str:
        args = ["keys", "create", "--name", name]
        if models:
            args += ["--models", models]
        return self.cli(*args).stdout.strip().splitlines()[-1]

    def ledger_row(self, request_id: str, timeout: float = 15.0) -> dict[str, Any]:
        engine = sa.create_engine(f"sqlite:///{self.data_dir / 'llmrelay.db'}")
        try:

            def fetch() -> dict[str, Any] | None:
                with engine.connect() as connection:
                    row = connection.execute(
                        sa.text("SELECT * FROM usage_records WHERE request_id = :r"),
                        {"r": request_id},
                    ).first()
                    return dict(row._mapping) if row else None

            return wait_until(fetch, timeout)
        finally:
            engine.dispose()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def admin_made_key(relay: RunningRelay, **fields: Any) -> str:
    """A new API key's secret, made through the admin API with `fields` (budget, limits...)."""
    response = httpx.post(
        relay.url + "/admin/keys",
        json={"name": "k-" + secrets.token_hex(4), **fields},
        headers=ADMIN,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["key"]


def relay_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    env["MOCK_UPSTREAM_KEY"] = UPSTREAM_KEY
    env.update(extra)
    return env


def launch_relay(
    directory: Path,
    config: dict[str, Any] | None = None,
    port: int | None = None,
    log_name: str = "relay.log",
    **env: str,
) -> RunningRelay:
    """Start `llmrelay serve` (with no config file when `config` is None); do not wait."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yaml"
    args = [sys.executable, "-m", "llmrelay", "serve", "--data-dir", str(directory / "data")]
    if config is not None:
        config_path.write_text(yaml.safe_dump(config))
        args += ["--config", str(config_path)]
    port = port or free_port()
    log_path = directory / log_name
    process = subprocess.Popen(
        [*args, "--port", str(port)],
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        env=relay_env(**env),
    )
    return RunningRelay(
        f"http://127.0.0.1:{port}", directory / "data", config_path, process, log_path
    )


def wait_ready(relay: RunningRelay) -> RunningRelay:
    def ready() -> bool:
        if relay.process.poll() is not None:
            raise AssertionError(f"relay exited early:\n{relay.log()}")
        try:
            return httpx.get(relay.url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=60, interval=0.1)
    return relay


def start_relay(config: dict[str, Any], directory: Path, **env: str) -> RunningRelay:
    return wait_ready(launch_relay(directory, config, **env))


def stop_relay(relay: RunningRelay) -> None:
    relay.process.terminate()
    try:
        relay.process.wait(15)
    except subprocess.TimeoutExpired:
        relay.process.kill()


def relay_config(mock: MockOpenAI) -> dict[str, Any]:
    fast = {"connect": 2, "first_token": 2, "idle": 2, "total": 20}
    mock_models = {
        "gpt-5": "mock-echo",
        "claude-sonnet-4-6": "mock-echo",
        "qwen3-max": "mock-echo",
        "tools-model": "mock-tools",
        "rate-limited": "mock-429",
        "broken": "mock-500",
        "overloaded": "mock-503",
        "picky": "mock-400",
        "hangs": "mock-hang",
        "breaks-midstream": "mock-midstream-error",
        "slow-start": "mock-slow-first-token",
        "slow-stream": "mock-slow-stream",
        "pauses": "mock-pause-midstream",
        "quiet": "mock-no-usage",
    }
    models: dict[str, Any] = {
        name: {"provider": "mock", "upstream_model": upstream}
        for name, upstream in mock_models.items()
    }
    models["wrong-creds"] = {"provider": "mock-bad-creds", "upstream_model": "mock-echo"}
    models["thinker"] = {"provider": "mock", "upstream_model": "mock-reasoning", "reasoning": True}
    models["thinker-tags"] = {
        "provider": "mock",
        "upstream_model": "mock-reasoning",
        "think_tags": True,
    }
    models["deep"] = {"provider": "mock-deepseek", "upstream_model": "mock-echo", "reasoning": True}
    models["deep-tools"] = {
        "provider": "mock-deepseek",
        "upstream_model": "mock-thinking-tools",
        "reasoning": True,
    }
    models["qwen-think"] = {
        "provider": "mock-qwen",
        "upstream_model": "mock-echo",
        "reasoning": True,
    }
    models["smollm2-135m-instruct"] = {"provider": "local"}
    return {
        "server": {"keepalive_ping_seconds": 0.3, "max_body_bytes": 200_000},
        "providers": {
            "mock": {
                "type": "openai",
                "base_url": mock.base_url,
                "api_key": "${MOCK_UPSTREAM_KEY}",
                "headers": {"x-relay-test": "yes"},
                "timeouts": fast,
            },
            "mock-bad-creds": {
                "type": "openai",
                "base_url": mock.base_url,
                "api_key": "sk-wrong-upstream-key-9876543210-zyxwvutsrq",
                "timeouts": fast,
            },
            "mock-deepseek": {
                "type": "openai",
                "base_url": mock.base_url,
                "api_key": "${MOCK_UPSTREAM_KEY}",
                "reasoning_style": "deepseek",
            },
            "mock-qwen": {
                "type": "openai",
                "base_url": mock.base_url,
                "api_key": "${MOCK_UPSTREAM_KEY}",
                "reasoning_style": "qwen",
            },
            "local": {"type": "local", "queue_size": 4},
        },
        "models": models,
    }


@pytest.fixture(scope="session")
def mock_openai() -> Iterator[MockOpenAI]:
    mock = MockOpenAI()
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture(scope="session")
def relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = start_relay(
        relay_config(mock_openai), tmp_path_factory.mktemp("relay"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="session")
def api_key(relay: RunningRelay) -> str:
    return relay.create_key("tests")


@pytest.fixture()
def client(relay: RunningRelay, api_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=relay.base_url, api_key=api_key, max_retries=0) as c:
        yield c


@pytest.fixture()
def async_client(relay: RunningRelay, api_key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=relay.base_url, api_key=api_key, max_retries=0)


@pytest.fixture()
def http(relay: RunningRelay, api_key: str) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=relay.url, headers=headers, timeout=30) as c:
        yield c


def outside_a_window_edge() -> None:
    """Wait for a fresh RPM window if this one ends within 15 s: a burst that straddled two
    fixed windows could rightly be admitted twice over."""
    into = time.time() % WINDOW_SECONDS
    if into > WINDOW_SECONDS - 15:
        time.sleep(WINDOW_SECONDS - into + 0.1)
