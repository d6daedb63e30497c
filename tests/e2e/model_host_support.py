"""A model host process and the relays around it, for the model host's tests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import ADMIN, relay_env, wait_for_text

MODEL = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"
QUEUE_SIZE = 2
"""One generation runs and two wait: a third waiting request is refused."""


def host_config() -> dict[str, Any]:
    """What every process of the test reads: the host, the relays using it and the relay
    with an engine of its own, for the answers to compare."""
    return {
        # One deployment and a dead host: the breaker must not rest it for the test's length.
        "routing": {"breaker": {"failures": 1000}},
        "providers": {
            "local": {"type": "local", "queue_size": QUEUE_SIZE},
            "minilm": {"type": "local-embeddings", "threads": 1},
        },
        "models": {MODEL: {"provider": "local"}, EMBEDDER: {"provider": "minilm"}},
    }


@dataclass
class HostProcess:
    """`python -m llmrelay.model_host` on its socket; `restart` after a kill."""

    directory: Path
    socket: Path
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> HostProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "config.yaml"
        config.write_text(yaml.safe_dump(host_config()))
        self.starts += 1
        log = self.directory / f"host-{self.starts}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmrelay.model_host",
                "--config",
                str(config),
                "--data-dir",
                str(self.directory / "data"),
                "--socket",
                str(self.socket),
            ],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env=relay_env(),
        )

        def read() -> str:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the model host exited:\n{log.read_text()}")
            return log.read_text()

        wait_for_text(read, "ready on")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(15)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def maps(pid: int) -> str:
    """What a process has mapped (its shared libraries, mmapped model files)."""
    return Path(f"/proc/{pid}/maps").read_text()


def local_status(url: str) -> dict[str, Any]:
    return httpx.get(url + "/readyz", headers=ADMIN, timeout=10).json()["providers"]["local"]
