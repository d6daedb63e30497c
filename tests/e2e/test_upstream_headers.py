"""What the relay sends an OpenAI-compatible upstream besides the body: llama-cpp-python's own
server (the real one, with the packaged SmolLM2) as the upstream, and the operator's headers
over the relay's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from llmrelay.providers.local_engine import packaged_model_path
from tests.conftest import RunningRelay, free_port, start_relay, stop_relay, wait_until
from tests.mocks.openai_upstream import UPSTREAM_KEY, MockOpenAI

pytestmark = pytest.mark.local_model

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def _serving(base_url: str, process: subprocess.Popen, log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"llama_cpp.server exited early:\n{log.read_text()}")
    try:
        return httpx.get(base_url + "/models", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` on the packaged model; its OpenAI base URL."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", packaged_model_path()]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--n_ctx", "1024"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until(lambda: _serving(base_url, process, log), timeout=60, interval=0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def header_relay(
    llama_server: str, mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    providers = {
        "llama-server": {"type": "openai", "base_url": llama_server},
        "plain": {
            "type": "openai",
            "base_url": mock_openai.base_url,
            "api_key": "${MOCK_UPSTREAM_KEY}",
        },
        "overridden": {
            "type": "openai",
            "base_url": mock_openai.base_url,
            "api_key": "sk-not-the-upstream-key-0123456789",
            "headers": {
                "Authorization": f"Bearer {UPSTREAM_KEY}",
                "Content-Type": "application/json; charset=utf-8",
                "X-LLMRelay-Request-Id": "",
                "x-request-id": "chosen-by-the-operator",
            },
        },
    }
    models = {
        "smol-remote": {"provider": "llama-server", "upstream_model": "smollm2"},
        "plain-echo": {"provider": "plain", "upstream_model": "mock-echo"},
        "overridden-echo": {"provider": "overridden", "upstream_model": "mock-echo"},
    }
    config = {"providers": providers, "models": models}
    relay = start_relay(config, tmp_path_factory.mktemp("header-relay"))
    yield relay
    stop_relay(relay)


@pytest.fixture(scope="module")
def header_client(header_relay: RunningRelay) -> Iterator[openai.OpenAI]:
    key = header_relay.create_key("headers")
    with openai.OpenAI(base_url=header_relay.base_url, api_key=key, max_retries=0) as client:
        yield client


def test_llama_cpp_server_answers_through_the_relay(header_client: openai.OpenAI) -> None:
    completion = header_client.chat.completions.create(
        model="smol-remote", messages=QUESTION, max_tokens=8, temperature=0
    )
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert 0 < completion.usage.completion_tokens <= 8


def test_llama_cpp_server_streams_through_the_relay(header_client: openai.OpenAI) -> None:
    stream = header_client.chat.completions.create(
        model="smol-remote",
        messages=QUESTION,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert 0 < chunks[-1].usage.completion_tokens <= 8


def test_request_id_goes_upstream_under_a_name_of_its_own(
    header_client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    raw = header_client.chat.completions.with_raw_response.create(
        model="plain-echo", messages=QUESTION
    )
    sent = mock_openai.last().headers
    assert sent["x-llmrelay-request-id"] == raw.headers["x-request-id"]
    assert "x-request-id" not in sent


def test_provider_headers_override_every_header_the_relay_sets(
    header_client: openai.OpenAI, mock_openai: MockOpenAI
) -> None:
    completion = header_client.chat.completions.create(model="overridden-echo", messages=QUESTION)
    assert completion.choices[0].message.content == "echo: What is the capital of France?"
    sent = mock_openai.last().headers
    assert sent["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent["content-type"] == "application/json; charset=utf-8"
    assert sent["x-request-id"] == "chosen-by-the-operator"
    assert "x-llmrelay-request-id" not in sent, "an empty value removes the header"
