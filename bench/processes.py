"""The processes under test: the mock upstream and llmrelay, each started pinned to its core.

The relay gets core 0 to itself; the mock, the load generator and this orchestrator share
core 1. On a one-core machine nothing is pinned (and the numbers say less).

Two relays are started, one after the other: the proxy arms measure a relay serving only the
mock model (the relay's own footprint); the local model arm measures a second relay that also
loads the embedded model, whose weights, KV cache and compute buffers are the engine's memory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

RELAY_MODEL = "bench-model"
CLAUDE_MODEL = "bench-claude"
"""The mock behind an `anthropic` provider, for the Messages door's pass-through arm."""
LOCAL_MODEL = "smollm2-135m-instruct"


class StartError(RuntimeError):
    """A process under test did not start; the message carries its log's tail."""


@dataclass(frozen=True, slots=True)
class Cores:
    relay: int | None
    harness: int | None

    @classmethod
    def detect(cls) -> Cores:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2:
            return cls(None, None)
        return cls(available[0], available[1])


def pinned(cpu: int | None, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if cpu is not None else command


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise StartError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _spawn(
    name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    try:
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    finally:
        log.close()


def _wait_http(service: Service, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = service.base_url.removesuffix("/v1") + path
    while time.monotonic() < deadline:
        service.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    service.stop()
    raise StartError(f"{service.name} not ready after {timeout:.0f} s:\n{service.log_tail()}")


def _wait_port(service: Service, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        service.check_alive()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    service.stop()
    raise StartError(f"{service.name} did not listen on {port}:\n{service.log_tail()}")


def start_mock(
    workdir: Path, port: int, cpu: int | None, *, chunks: int, gap_ms: float, delay_ms: float
) -> Service:
    command = pinned(
        cpu,
        [
            sys.executable,
            "-m",
            "bench.mock_upstream",
            "--port",
            str(port),
            "--chunks",
            str(chunks),
            "--gap-ms",
            str(gap_ms),
            "--delay-ms",
            str(delay_ms),
        ],
    )
    log_path = workdir / "mock.log"
    process = _spawn("mock", command, log_path)
    service = Service("mock upstream", process, f"http://127.0.0.1:{port}/v1", log_path)
    _wait_port(service, port, 15)
    return service


def _relay_env(admin_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    env["LLMRELAY_ADMIN_KEY"] = admin_key
    return env


def write_relay_config(path: Path, mock_url: str, *, with_model: bool, workers: int = 1) -> None:
    """The mock as an OpenAI provider; with `with_model`, the packaged local model too."""
    providers: dict[str, object] = {
        "mock": {"type": "openai", "base_url": mock_url, "api_key": "sk-bench"}
    }
    # Priced, so every request reserves its worst case against the bench key's budget.
    models: dict[str, object] = {
        RELAY_MODEL: {
            "provider": "mock",
            "upstream_model": "mock",
            "price": {"input": 0.15, "output": 0.6},
        }
    }
    # The same mock as an Anthropic upstream: the Messages door passes its requests through.
    providers["mock-anthropic"] = {
        "type": "anthropic",
        "base_url": mock_url.removesuffix("/v1"),
        "api_key": "sk-ant-bench",
    }
    models[CLAUDE_MODEL] = {
        "provider": "mock-anthropic",
        "upstream_model": "mock",
        "price": {"input": 0.15, "output": 0.6},
    }
    if with_model:
        providers["local"] = {"type": "local"}
        models[LOCAL_MODEL] = {"provider": "local"}
    config: dict[str, object] = {"providers": providers, "models": models}
    if workers > 1:
        config["server"] = {"workers": workers}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


BENCH_KEY_LIMITS = [
    *["--budget-usd", "1000000", "--budget-period", "monthly"],
    *["--rpm", "100000000", "--tpm", "2000000000", "--max-concurrent", "100000"],
    *["--allow-ip", "127.0.0.0/8"],
]


@dataclass
class RelayService(Service):
    api_key: str = ""


def start_relay(
    workdir: Path,
    mock_url: str,
    port: int,
    cpu: int | None,
    *,
    with_model: bool = False,
    workers: int = 1,
) -> RelayService:
    """`llmrelay serve` with every existing feature on: key auth, the usage ledger, prices,
    a budget reserved and settled per request, RPM/TPM/concurrency limits and an IP allowlist
    (all far above what the load reaches, so they are counted, never hit).

    Without `with_model` it serves only the mock model; with it, the embedded local model
    too (ready once the model is loaded). Each relay has its own config, data dir and log."""
    stem = "relay-with-model" if with_model else "relay" if workers == 1 else "relay-workers"
    config = workdir / f"{stem}.yaml"
    data_dir = workdir / f"{stem}-data"
    write_relay_config(config, mock_url, with_model=with_model, workers=workers)
    env = _relay_env("sk-bench-admin-" + secrets.token_hex(16))
    common = ["--config", str(config), "--data-dir", str(data_dir)]
    created = subprocess.run(
        [
            *[sys.executable, "-m", "llmrelay", "keys", "create", "--name", "bench", *common],
            *BENCH_KEY_LIMITS,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = created.stdout.strip().splitlines()
    if created.returncode != 0 or not lines:
        raise StartError(f"llmrelay keys create failed:\n{created.stdout}\n{created.stderr}")
    command = pinned(
        cpu,
        [
            sys.executable,
            "-m",
            "llmrelay",
            "serve",
            *common,
            "--port",
            str(port),
        ],
    )
    log_path = workdir / f"{stem}.log"
    name = "llmrelay (with the embedded model)" if with_model else "llmrelay"
    process = _spawn(name, command, log_path, env)
    relay = RelayService(
        name, process, f"http://127.0.0.1:{port}/v1", log_path, api_key=lines[-1].strip()
    )
    _wait_http(relay, "/readyz", 180)
    return relay
