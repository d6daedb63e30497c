"""SIGHUP and `POST /admin/reload` read the configuration file again (docs/deploy.md, "Reload
and drain"): new requests see its models, prices and providers; requests in flight finish on
what they began with; a bad file is refused, said in the log, and the one in force serves on.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import (
    ADMIN,
    ADMIN_KEY,
    RunningRelay,
    start_relay,
    stop_relay,
    wait_for_text,
    wait_until,
)
from tests.e2e.test_drain import Stream, api_client, chat, mock_providers
from tests.mocks.openai_upstream import MockOpenAI

OLD_PRICE = {"input": 1.0, "output": 2.0}
NEW_PRICE = {"input": 10.0, "output": 20.0}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockOpenAI]:
    upstream = MockOpenAI()
    upstream.start()
    yield upstream
    upstream.stop()


def config(
    mock: MockOpenAI, price: dict[str, float] = OLD_PRICE, **more: dict[str, Any]
) -> dict[str, Any]:
    paced = {"upstream_model": "mock-paced:0.05", "price": price}
    models = {
        "paced": {"provider": "mock", **paced},
        "paced-aio": {"provider": "mock-aio", **paced},
        "echo": {"provider": "mock", "upstream_model": "mock-echo", "price": OLD_PRICE},
    }
    document: dict[str, Any] = {
        "server": {"keepalive_ping_seconds": 0.5},
        "providers": mock_providers(mock),
        "models": models,
    }
    for section, values in more.items():
        document[section] = {**document.get(section, {}), **values}
    return document


def write(relay: RunningRelay, document: dict[str, Any] | str) -> None:
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    relay.config_path.write_text(text)


def cost(row: dict[str, Any], price: dict[str, float]) -> float:
    prompt, completion = row["prompt_tokens"], row["completion_tokens"]
    return (prompt * price["input"] + completion * price["output"]) / 1e6


def model_ids(relay: RunningRelay, key: str) -> set[str]:
    response = httpx.get(relay.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
    return {card["id"] for card in response.json()["data"]}


def test_sighup_adds_a_model_and_reprices_another_under_load(
    mock: MockOpenAI, tmp_path: Path
) -> None:
    relay = start_relay(config(mock), tmp_path, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    key = relay.create_key("reload")
    words = 80  # 4 s a stream
    v2 = config(mock, NEW_PRICE, models={"added": {"provider": "mock", "price": NEW_PRICE}})
    for provider in v2["providers"].values():  # changed providers: built anew
        provider["headers"] = {**provider.get("headers", {}), "x-config": "v2"}

    async def scenario() -> dict[str, Any]:
        statuses: list[int] = []
        done = asyncio.Event()

        async def load(client: httpx.AsyncClient) -> None:  # whole answers all along
            while not done.is_set():
                response = await client.post("/v1/chat/completions", json=chat(3, "echo", False))
                statuses.append(response.status_code)

        async with api_client(relay, key) as client:
            before = [Stream() for _ in range(10)]
            models = ["paced", "paced-aio"] * 5
            streams = [
                asyncio.create_task(s.run(client, "/v1/chat/completions", chat(words, model)))
                for s, model in zip(before, models, strict=True)
            ]
            await asyncio.gather(*(s.first.wait() for s in before))
            loaders = [asyncio.create_task(load(client)) for _ in range(4)]
            write(relay, v2)
            relay.process.send_signal(signal.SIGHUP)
            await asyncio.to_thread(wait_until, lambda: "added" in model_ids(relay, key))
            served = len(statuses)
            after = Stream()
            await after.run(client, "/v1/chat/completions", chat(5))
            marker = "m" + secrets.token_hex(4)
            added = await client.post(
                "/v1/chat/completions",
                json={"model": "added", "messages": [{"role": "user", "content": marker}]},
            )
            await asyncio.to_thread(wait_until, lambda: len(statuses) > served + 20)
            done.set()
            await asyncio.gather(*loaders, *streams)
        return {"before": before, "after": after, "added": added, "marker": marker,
                "statuses": statuses}  # fmt: skip

    seen = asyncio.run(scenario())
    try:
        assert set(seen["statuses"]) == {200}  # no request failed across the reload
        added = seen["added"]
        assert added.status_code == 200
        assert added.json()["choices"][0]["message"]["content"] == "echo: " + seen["marker"]
        [upstream] = [r for r in mock.received if seen["marker"] in json.dumps(r.body)]
        assert upstream.headers.get("x-config") == "v2"  # the provider as the new file says
        expected = "echo: " + " ".join(f"w{i}" for i in range(words))
        for stream in seen["before"]:  # on the provider they began with, closed only after
            assert stream.text() == expected and stream.data[-1] == "[DONE]"
            row = relay.ledger_row(stream.request_id)
            assert (row["status"], row["error_code"]) == (200, None)
            assert row["cost_usd"] == pytest.approx(cost(row, OLD_PRICE))  # the old price
        row = relay.ledger_row(seen["after"].request_id)
        assert row["cost_usd"] == pytest.approx(cost(row, NEW_PRICE))  # the new price
        assert row["cost_usd"] > cost(row, OLD_PRICE)
        log = relay.log()
        assert (
            "configuration reloaded: models added: added; models changed: paced, paced-aio; "
            "providers started: mock, mock-aio; providers retired: mock, mock-aio" in log
        )
    finally:
        stop_relay(relay)


@pytest.fixture(scope="module")
def relay(mock: MockOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    running = start_relay(
        config(mock), tmp_path_factory.mktemp("reload"), LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    yield running
    stop_relay(running)


@pytest.fixture()
def key(relay: RunningRelay, mock: MockOpenAI) -> Iterator[str]:
    yield relay.create_key("k-" + secrets.token_hex(4))
    write(relay, config(mock))  # the good file back, in force again
    assert reload(relay).status_code == 200


def reload(relay: RunningRelay, headers: dict[str, str] = ADMIN) -> httpx.Response:
    return httpx.post(relay.url + "/admin/reload", headers=headers, timeout=30)


def answers(relay: RunningRelay, key: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "still here?"}]}
    headers = {"authorization": f"Bearer {key}"}
    response = httpx.post(relay.url + "/v1/chat/completions", json=body, headers=headers)
    return response.status_code


BAD_FILES = [
    ("models: [not closed\n", "not valid YAML"),
    (
        {"providers": {}, "models": {"echo": {"provider": "nowhere"}}},
        "$.models.echo.provider: unknown provider 'nowhere'",
    ),
    ({"models": {"echo": {"provider": "mock", "price": {"input": "free"}}}}, "$.models.echo"),
]


@pytest.mark.parametrize(("document", "problem"), BAD_FILES)
def test_a_bad_file_is_refused_and_the_one_in_force_serves_on(
    relay: RunningRelay, key: str, mock: MockOpenAI, document: Any, problem: str
) -> None:
    if isinstance(document, dict) and "providers" not in document:
        document = {**config(mock), "models": document["models"]}
    write(relay, document)
    response = reload(relay)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config" and problem in error["message"]
    assert problem in wait_for_text(relay.log, "configuration not reloaded")
    assert answers(relay, key, "echo") == 200
    assert model_ids(relay, key) == {"echo", "paced", "paced-aio"}


def test_a_bad_file_on_sighup_is_logged_and_the_one_in_force_serves_on(
    relay: RunningRelay, key: str, mock: MockOpenAI
) -> None:
    marker = "nowhere-" + secrets.token_hex(4)
    document = config(mock, models={"new-model": {"provider": marker}})
    write(relay, document)
    relay.process.send_signal(signal.SIGHUP)
    line = f"$.models.new-model.provider: unknown provider '{marker}'"
    assert "configuration not reloaded" in wait_for_text(relay.log, line)
    assert answers(relay, key, "echo") == 200
    assert answers(relay, key, "new-model") == 404


def test_a_provider_that_cannot_start_is_refused(
    relay: RunningRelay, key: str, mock: MockOpenAI, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.gguf"
    write(relay, config(mock, models={"local-one": {"gguf": str(missing)}}))
    response = reload(relay)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "provider_failed"
    assert "provider 'local-one' could not start" in error["message"]
    assert str(missing) in error["message"]
    assert answers(relay, key, "echo") == 200 and answers(relay, key, "local-one") == 404


def test_admin_reload_says_what_changed_and_what_needs_a_restart(
    relay: RunningRelay, key: str, mock: MockOpenAI
) -> None:
    write(
        relay,
        config(
            mock,
            server={"keepalive_ping_seconds": 3, "drain_seconds": 5},
            models={"second-echo": {"provider": "mock", "upstream_model": "mock-echo"}},
        ),
    )
    response = reload(relay)
    assert response.status_code == 200
    report = response.json()
    assert report["changed"] and report["models_added"] == ["second-echo"]
    assert report["providers_started"] == [] and report["providers_retired"] == []
    assert report["not_reloaded"] == ["server.drain_seconds", "server.keepalive_ping_seconds"]
    assert answers(relay, key, "second-echo") == 200
    assert "not reloaded (restart the process to apply)" in relay.log()
    again = reload(relay).json()  # the same file once more: nothing to do
    assert not again["changed"] and again["models_added"] == []


def test_admin_reload_takes_the_admin_key_only(relay: RunningRelay, key: str) -> None:
    assert reload(relay, {}).status_code == 401
    assert reload(relay, {"authorization": f"Bearer {key}"}).status_code == 403
    assert httpx.get(relay.url + "/admin/reload", headers=ADMIN).status_code == 405
