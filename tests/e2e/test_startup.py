"""Starting the relay as a newcomer does: the banner, a busy port, `make run PORT=`, the log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from llmrelay.providers.local_engine import packaged_model_path
from tests.conftest import (
    ADMIN_KEY,
    free_port,
    launch_relay,
    relay_env,
    stop_relay,
    wait_for_text,
    wait_ready,
)
from tests.e2e.newcomer import fake_checkout, unreachable_upstream_config

REPOSITORY = Path(__file__).parents[2]
READY = "llmrelay is ready"


def test_the_banner_comes_once_the_relay_answers(tmp_path: Path) -> None:
    relay = launch_relay(tmp_path, unreachable_upstream_config())
    try:
        wait_for_text(relay.log, READY)
        assert httpx.get(relay.url + "/healthz", timeout=5).status_code == 200
    finally:
        stop_relay(relay)


def test_a_second_relay_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    first = wait_ready(launch_relay(tmp_path, unreachable_upstream_config()))
    port = int(first.url.rsplit(":", 1)[1])
    try:
        second = launch_relay(
            tmp_path / "second", unreachable_upstream_config(), port=port, log_name="second.log"
        )
        assert second.process.wait(60) == 1
        assert second.log().splitlines() == [
            f"llmrelay: port {port} is in use; choose another with --port N (or make run PORT=N)"
        ]
        assert not (tmp_path / "second" / "data").exists(), "it touched nothing, made no key"
        assert httpx.get(first.url + "/healthz", timeout=5).status_code == 200
    finally:
        stop_relay(first)


def test_make_run_listens_on_the_port_given(tmp_path: Path) -> None:
    venv = fake_checkout(tmp_path)
    (venv / ".installed-run").touch()  # newer than pyproject.toml: make installs nothing
    config = tmp_path / "relay.yaml"
    config.write_text(yaml.safe_dump(unreachable_upstream_config()))
    port = free_port()
    env = relay_env(LLMRELAY_CONFIG=str(config), LLMRELAY_DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "make.log"
    make = subprocess.Popen(
        ["make", "-C", str(REPOSITORY), "run", f"VENV={venv}", f"PORT={port}"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # make and the relay it runs: one group to stop
    )
    try:
        banner = wait_for_text(log.read_text, READY)
        assert f"http://127.0.0.1:{port}" in banner
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(30)


def test_the_default_log_has_no_alembic_lines(tmp_path: Path) -> None:
    relay = launch_relay(tmp_path, unreachable_upstream_config())
    try:
        wait_for_text(relay.log, READY)
        assert "alembic" not in relay.log().lower()
    finally:
        stop_relay(relay)


def test_the_restart_banner_key_command_works_every_time(tmp_path: Path) -> None:
    """Run as printed, twice: each run exports a fresh key that works."""
    fake_checkout(tmp_path)
    relay = launch_relay(tmp_path, unreachable_upstream_config(), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    try:
        banner = wait_for_text(relay.log, "Web console")
        wait_ready(relay)
        command = next(
            line.strip() for line in banner.splitlines() if "export LLMRELAY_KEY=" in line
        )
        keys = []
        for _ in range(2):
            shell = subprocess.run(
                ["bash", "-c", f'{command}\necho "$LLMRELAY_KEY"'],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                env=relay_env(LLMRELAY_CONFIG=str(relay.config_path)),
                timeout=60,
            )
            keys.append(shell.stdout.strip())
            assert re.fullmatch(r"sk-[A-Za-z0-9_-]{43}", keys[-1]), shell.stderr

        assert keys[0] != keys[1]
        for key in keys:
            headers = {"authorization": f"Bearer {key}"}
            assert httpx.get(relay.url + "/v1/models", headers=headers).status_code == 200
    finally:
        stop_relay(relay)


@pytest.mark.local_model
def test_one_gguf_line_serves_a_model_file(tmp_path: Path) -> None:
    """README's one-line config, with the packaged GGUF standing in for a downloaded one."""
    config = tmp_path / "one-line.yaml"
    config.write_text(f"models: {{tiny-chat: {{gguf: {packaged_model_path()}}}}}\n")
    directory = tmp_path / "relay"
    relay = launch_relay(directory, LLMRELAY_CONFIG=str(config), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    try:
        wait_ready(relay)
        with openai.OpenAI(base_url=relay.base_url, api_key=ADMIN_KEY, max_retries=0) as client:
            assert [model.id for model in client.models.list()] == ["tiny-chat"]
            answer = client.chat.completions.create(
                model="tiny-chat", max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
            )
        assert answer.model == "tiny-chat" and answer.choices[0].message.content
        assert answer.usage.completion_tokens > 0
    finally:
        stop_relay(relay)
