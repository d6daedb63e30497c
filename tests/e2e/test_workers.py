"""`llmrelay serve --workers N` (supervisor.py): N processes on one port behave, for every
client and every ledger row, as one process does, with no Redis: the budget and rate-limit
races a single process wins, key changes on the next request, one ledger writer, a worker
that dies started again while the others serve, and a clean stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmrelay.providers.local_engine import packaged_model_path
from tests.conftest import (
    ADMIN,
    ADMIN_KEY,
    RunningRelay,
    admin_made_key,
    outside_a_window_edge,
    relay_config,
    start_relay,
    stop_relay,
    wait_until,
)
from tests.e2e.model_host_support import maps
from tests.e2e.races import race
from tests.e2e.test_budgets_limits import (
    COST,
    key_id_of,
    new_key,
    priced_config,
    recorded_spend,
)
from tests.mocks.openai_upstream import MockOpenAI

WORKERS = 2


@pytest.fixture(scope="module")
def mock() -> Iterator[MockOpenAI]:
    upstream = MockOpenAI()
    upstream.start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def fleet(mock: MockOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    config = priced_config(mock)
    config["server"]["workers"] = WORKERS
    relay = start_relay(config, tmp_path_factory.mktemp("workers"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    wait_until(lambda: len(worker_pids(relay)) == WORKERS, timeout=60)
    yield relay
    stop_relay(relay)


def answered_by(relay: RunningRelay) -> int:
    status = httpx.get(relay.url + "/readyz", headers=ADMIN, timeout=5).json()
    return int(status["process"]["pid"])


def worker_pids(relay: RunningRelay, tries: int = 40) -> set[int]:
    """The workers seen answering over `tries` new connections."""
    return {answered_by(relay) for _ in range(tries)}


def children(pid: int) -> list[tuple[int, str]]:
    """The processes `pid` started: (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), command))
    return found


def chat(relay: RunningRelay, key: str, model: str = "gpt-5", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    headers = {"authorization": f"Bearer {key}"}
    # A new connection a request: the kernel hands each to either worker.
    return httpx.post(relay.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_the_workers_share_the_port_and_one_ledger_writer(fleet: RunningRelay) -> None:
    assert len(worker_pids(fleet)) == WORKERS
    started = children(fleet.process.pid)
    writers = [pid for pid, command in started if "llmrelay.metering.writer" in command]
    workers = [pid for pid, command in started if " serve" in command]
    assert len(writers) == 1, started
    assert sorted(workers) == sorted(worker_pids(fleet))
    for worker in workers:  # no worker runs a writer of its own
        assert not [c for c in children(worker) if "llmrelay.metering.writer" in c[1]]


@pytest.mark.local_model
def test_the_embedded_model_is_loaded_once_for_every_worker(fleet: RunningRelay) -> None:
    """The supervisor's model host holds the model; both workers' requests reach it."""
    model_file = os.path.realpath(packaged_model_path())
    started = children(fleet.process.pid)
    hosts = [pid for pid, command in started if "llmrelay.model_host" in command]
    workers = [pid for pid, command in started if " serve" in command]
    assert len(hosts) == 1, started
    assert model_file in maps(hosts[0])
    assert not [pid for pid in workers if model_file in maps(pid)]
    key = admin_made_key(fleet)
    for _ in range(8):  # new connections: both workers, in time
        answer = chat(fleet, key, "smollm2-135m-instruct", max_tokens=2)
        assert answer.status_code == 200, answer.text
    status = httpx.get(fleet.url + "/readyz", headers=ADMIN, timeout=5).json()
    host = status["providers"]["local"]["model_host"]
    assert host["pid"] == hosts[0] and set(host["workers"]) == {str(pid) for pid in workers}


def test_a_budget_race_across_workers_never_overspends(fleet: RunningRelay) -> None:
    """200 requests at once on a budget of 10 requests, spread over the workers by the
    kernel: never more than 10 pass, as on one process (test_budgets_limits.py)."""
    budget = 10 * COST
    key = new_key(fleet, budget_usd=budget)
    succeeded, refused = asyncio.run(race([fleet.base_url], [key], 200))
    assert 1 <= succeeded <= 10
    assert set(refused) == {"insufficient_quota"} and len(refused) == 200 - succeeded
    spend = recorded_spend(fleet, key_id_of(fleet, key), 200)
    assert spend == pytest.approx(succeeded * COST)
    assert spend <= budget + 1e-9


def test_a_requests_per_minute_limit_holds_across_workers(fleet: RunningRelay) -> None:
    key = new_key(fleet, rpm=30)
    outside_a_window_edge()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda _: chat(fleet, key).status_code, range(80)))
    assert statuses.count(200) == 30, statuses
    assert statuses.count(429) == 50


def test_a_revoked_key_is_refused_by_every_worker_at_once(fleet: RunningRelay) -> None:
    key = fleet.create_key("short-lived")
    assert chat(fleet, key).status_code == 200
    assert "Revoked" in fleet.cli("keys", "revoke", "short-lived").stdout
    statuses = {chat(fleet, key).status_code for _ in range(20)}
    assert statuses == {401}


def test_a_worker_that_dies_is_started_again(fleet: RunningRelay) -> None:
    before = worker_pids(fleet)
    victim = next(iter(before))
    os.kill(victim, signal.SIGKILL)
    key = admin_made_key(fleet)
    for _ in range(20):  # the other keeps serving meanwhile
        assert chat(fleet, key).status_code == 200
    wait_until(lambda: len(worker_pids(fleet)) == WORKERS and victim not in worker_pids(fleet))
    assert "starting it again" in fleet.log()


def test_the_supervisor_stops_cleanly(mock: MockOpenAI, tmp_path: Path) -> None:
    config = relay_config(mock)
    config["server"]["workers"] = WORKERS
    relay = start_relay(config, tmp_path, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    key = admin_made_key(relay)
    answer = chat(relay, key)
    assert answer.status_code == 200
    started = [pid for pid, _ in children(relay.process.pid)]
    relay.process.send_signal(signal.SIGTERM)
    assert relay.process.wait(30) == 0
    assert not [pid for pid in started if Path(f"/proc/{pid}").exists()], "a child outlived it"
    # what the workers wrote reached the database before the writer stopped
    assert relay.ledger_row(answer.headers["x-request-id"], timeout=1)["status"] == 200


def test_a_bad_number_of_workers_is_a_configuration_error(tmp_path: Path) -> None:
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmrelay",
            "serve",
            "--workers",
            "none",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "workers" in bad.stderr
