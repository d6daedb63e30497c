"""Three replicas behind nginx, as deploy/ ships them, behave as one relay: every answer is in
the ledger once, with the client's real address; a key's RPM limit and budget hold across the
replicas; a key revoked on one is refused through nginx within a second; and when a replica
is killed mid-load, nginx moves its traffic to the others and no answer is lost or doubled in
the ledger."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import httpx
import pytest

from llmrelay.gate.limit_book import WINDOW_SECONDS
from tests.conftest import ADMIN, outside_a_window_edge
from tests.e2e.fleet.conftest import PAUSING_MODEL, Fleet
from tests.e2e.fleet.load import Outcome, burst, run_load

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.nginx]

CLIENTS = 8
LOAD = 2000


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if not o.answered]


def test_two_thousand_requests_are_each_recorded_once_with_their_client(fleet: Fleet) -> None:
    key = fleet.new_key()
    outcomes = asyncio.run(run_load(fleet.url, key["key"], LOAD, CLIENTS))
    assert not failures(outcomes), failures(outcomes)[:5]
    rows = fleet.ledger(key["id"], [o.request_id for o in outcomes])
    assert len(rows) == LOAD
    recorded = {row["request_id"]: row for row in rows}
    assert recorded.keys() == {o.request_id for o in outcomes}
    for outcome in outcomes:
        row = recorded[outcome.request_id]
        assert (row["status"], row["stream"]) == (200, outcome.stream)
        assert row["client_ip"] == outcome.client_ip
        assert row["cost_usd"] > 0
    replicas = Counter(fleet.served_by([o.request_id for o in outcomes]))
    assert set(replicas) == {f"127.0.0.1:{port}" for port in fleet.ports}, replicas


def test_a_requests_per_minute_limit_holds_across_the_replicas(fleet: Fleet) -> None:
    key = fleet.new_key(rpm=50)
    outside_a_window_edge()
    window = time.time() // WINDOW_SECONDS
    outcomes = asyncio.run(burst(fleet.url, key["key"], 120))
    assert time.time() // WINDOW_SECONDS == window, "the burst outlasted its window"
    statuses = Counter(o.status for o in outcomes)
    assert statuses == {200: 50, 429: 70}, statuses
    assert {o.code for o in outcomes if o.status == 429} == {"rate_limit_exceeded"}
    assert all(o.whole for o in outcomes if o.status == 200)
    rows = fleet.ledger(key["id"], [o.request_id for o in outcomes])
    assert Counter(row["status"] for row in rows) == {200: 50, 429: 70}


def cost_of_one_request(fleet: Fleet) -> float:
    """What one of the load's requests costs at the shipped config's price."""
    key = fleet.new_key()
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello b0"}],
        "max_tokens": 5,
    }
    headers = {"authorization": f"Bearer {key['key']}"}
    answer = httpx.post(fleet.url + "/v1/chat/completions", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return float(answer.headers["x-llmrelay-cost-usd"])


def test_a_budget_for_ten_requests_is_never_exceeded(fleet: Fleet) -> None:
    cost = cost_of_one_request(fleet)
    budget = 10 * cost
    key = fleet.new_key(budget_usd=budget)
    outcomes = asyncio.run(burst(fleet.url, key["key"], 100))
    served = [o for o in outcomes if o.status == 200]
    assert 1 <= len(served) <= 10 and all(o.whole for o in served)
    refused = {(o.status, o.code) for o in outcomes if o.status != 200}
    assert refused == {(429, "insufficient_quota")}
    rows = fleet.ledger(key["id"], [o.request_id for o in outcomes])
    spent = sum(row["cost_usd"] for row in rows)
    assert spent == pytest.approx(len(served) * cost)
    assert spent <= budget * (1 + 1e-9)


def test_a_key_revoked_on_one_replica_is_refused_through_nginx_within_a_second(
    fleet: Fleet,
) -> None:
    key = fleet.new_key()
    revoke = httpx.delete(fleet.replicas[0].url + f"/admin/keys/{key['id']}", headers=ADMIN)
    assert revoke.status_code == 200, revoke.text
    time.sleep(1.0)  # the promise (README, "Scaling out"): a second, on every replica
    outcomes = asyncio.run(burst(fleet.url, key["key"], 12))
    assert {o.status for o in outcomes} == {401}
    assert len(set(fleet.served_by([o.request_id for o in outcomes]))) == len(fleet.replicas)


OPEN_STREAMS_AT_KILL = 5
"""Pausing streams answering when the replica is killed: with `least_conn` spreading them
over three replicas, the killed one is in the middle of some."""


async def load_with_a_kill(
    fleet: Fleet, key: str, total: int, kill_after: int
) -> tuple[list[Outcome], float]:
    """The load, with the last replica SIGKILLed once `kill_after` requests have ended and
    pausing streams are open; its outcomes, and when the replica was dead (monotonic)."""
    victim = fleet.replicas[-1].process
    killed: list[float] = []

    def progress(ended: int, in_flight: list[Outcome]) -> None:
        streaming = sum(o.model == PAUSING_MODEL and o.status == 200 for o in in_flight)
        if not killed and ended >= kill_after and streaming >= OPEN_STREAMS_AT_KILL:
            victim.send_signal(signal.SIGKILL)
            victim.wait(5)  # dead and reaped: what reached it before this was cut off
            killed.append(time.monotonic())

    slow = (PAUSING_MODEL, 5)
    outcomes = await run_load(fleet.url, key, total, CLIENTS, progress, slow)
    assert killed, "the replica was never killed: too few streams open at once"
    return outcomes, killed[0]


def upstream_asks(fleet: Fleet, since: int) -> Counter[str]:
    """How often each request's text reached the upstream, among its requests from `since`."""
    bodies = [r.body for r in fleet.mock.received[since:] if r.path == "/v1/chat/completions"]
    return Counter(body["messages"][-1]["content"] for body in bodies)


def test_a_replica_killed_mid_load_loses_and_doubles_nothing(fleet: Fleet) -> None:
    """Every answer that arrived whole is in the ledger once; requests cut off by the kill
    (at most the ones in flight then) have no row, or one; nothing is sent upstream twice;
    requests begun after the kill are all answered, by the other replicas."""
    key = fleet.new_key()
    since = len(fleet.mock.received)
    try:
        outcomes, killed_at = asyncio.run(load_with_a_kill(fleet, key["key"], 400, 150))
    finally:
        fleet.restart(len(fleet.replicas) - 1)
    answered = [o for o in outcomes if o.answered]
    cut = failures(outcomes)
    assert 1 <= len(cut) <= CLIENTS, cut  # the killed replica was answering some
    assert all(o.started < killed_at for o in cut), "a request begun after the kill failed"
    rows = fleet.ledger(key["id"], [o.request_id for o in answered])
    recorded = Counter(row["request_id"] for row in rows)
    assert all(recorded[o.request_id] == 1 for o in answered)
    assert len(rows) <= len(outcomes)
    asks = upstream_asks(fleet, since)
    assert max(asks.values()) == 1, [text for text, n in asks.items() if n > 1]
    dead = f"127.0.0.1:{fleet.ports[-1]}"
    after = set(fleet.served_by([o.request_id for o in answered if o.started > killed_at]))
    assert after and dead not in after
