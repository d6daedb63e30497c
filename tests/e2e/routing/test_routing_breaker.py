"""The circuit breaker: a failing deployment rests, gets no traffic, and is probed back.

Each test has a model of its own over two mocks of its own, so no breaker state crosses tests.
`breaker.failures` is 3 and the first cooldown 2 s; nothing here sleeps: the tests poll
`GET /readyz` (its `deployments` view) for the state they wait for.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from tests.conftest import RunningRelay, wait_until
from tests.e2e.routing.helpers import (
    ask,
    assert_openai_error,
    deployment,
    grown,
    post,
    provider,
    totals,
    wait_idle,
)
from tests.mocks.fault_upstream import FaultUpstream

COOLDOWN = 2.0
LOAD = ["refuse", "500", "hang_before_headers"]
PAIRS = {"cool": ("p", "q"), "reprobe": ("r", "s"), "retry-after": ("t", "u"), "rest": ("x", "y")}
PAIRS.update({f"load-{fault}": (f"{fault}-1", f"{fault}-2") for fault in LOAD})
MOCKS = [name for pair in PAIRS.values() for name in pair]


def relay_config(mocks: dict[str, FaultUpstream]) -> dict[str, Any]:
    return {
        "routing": {
            "max_attempts": 4,
            "backoff_seconds": 0.01,
            "breaker": {
                "failures": 3,
                "window_seconds": 30,
                "cooldown_seconds": COOLDOWN,
                "max_cooldown_seconds": 20,
            },
        },
        "providers": {name: provider(mock) for name, mock in mocks.items()},
        "models": {
            model: {
                "deployments": [
                    {"provider": first, "upstream_model": f"up-{first}"},
                    {"provider": second, "upstream_model": f"up-{second}"},
                ]
            }
            for model, (first, second) in PAIRS.items()
        },
    }


def state(relay: RunningRelay, model: str, name: str) -> str:
    return deployment(relay, model, name)["state"]


def trip(relay: RunningRelay, client: openai.OpenAI, model: str, mock: FaultUpstream) -> None:
    """Send requests (each answered by the other deployment) until `mock` rests."""
    for _ in range(200):
        assert ask(client, model)[1] == "echo: hello there"
        if state(relay, model, mock.name) == "cooldown":
            return
    raise AssertionError(f"{mock.name} never went into cooldown")


def assert_no_traffic(
    client: openai.OpenAI, model: str, mocks: dict[str, FaultUpstream], resting: str, n: int = 20
) -> None:
    """`n` requests all succeed, and none of them reaches the resting deployment."""
    before = totals(mocks)
    for _ in range(n):
        assert ask(client, model)[1] == "echo: hello there"
    assert resting not in grown(before, mocks)


def test_a_cooled_down_deployment_gets_no_traffic_until_its_probe_succeeds(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    p, q = mocks["p"], mocks["q"]
    p.mode = "500"
    trip(relay, client, "cool", p)
    assert p.counts["500"] == 3, "breaker.failures failures put it in cooldown, not fewer"
    row = deployment(relay, "cool", "p")
    assert 0 < row["cooldown_remaining_seconds"] <= COOLDOWN
    assert deployment(relay, "cool", "q")["state"] == "healthy"

    assert_no_traffic(client, "cool", mocks, "p")
    p.mode = "ok"
    assert_no_traffic(client, "cool", mocks, "p", n=5)  # mended, but still resting

    wait_until(lambda: state(relay, "cool", "p") != "cooldown", timeout=COOLDOWN + 5)
    assert p.counts["ok"] == 0, "no traffic before the cooldown ended"

    def probed() -> bool:
        ask(client, "cool")
        return p.counts["ok"] >= 1

    wait_until(probed, timeout=10, interval=0)
    row = deployment(relay, "cool", "p")
    assert (row["state"], row["consecutive_failures"]) == ("healthy", 0)
    assert not row["cooldown_remaining_seconds"]

    before = totals(mocks)
    for _ in range(60):
        ask(client, "cool")
    share = grown(before, mocks)
    assert share.get("p", 0) >= 10 and share.get("q", 0) >= 10, share
    wait_idle(p, q)


@pytest.mark.pool(8)
def test_a_failed_probe_rests_it_again_for_longer(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    r = mocks["r"]
    r.mode = "500"
    trip(relay, client, "reprobe", r)
    wait_until(lambda: state(relay, "reprobe", "r") != "cooldown", timeout=COOLDOWN + 5)
    assert state(relay, "reprobe", "r") == "half_open"

    # Half open, one request is the probe: of many at once, only one reaches it.
    before = r.total
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: ask(client, "reprobe")[1], range(16)))
    assert answers == ["echo: hello there"] * 16
    assert r.total == before + 1, "a half-open deployment takes a single probe"

    row = deployment(relay, "reprobe", "r")
    assert row["state"] == "cooldown"
    assert row["cooldown_remaining_seconds"] > COOLDOWN, "the second cooldown is longer"
    assert_no_traffic(client, "reprobe", mocks, "r")
    wait_idle(r, mocks["s"])


def test_retry_after_sets_the_cooldown(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    t = mocks["t"]
    t.mode, t.retry_after = "429", "9"
    trip(relay, client, "retry-after", t)
    row = deployment(relay, "retry-after", "t")
    assert row["cooldown_remaining_seconds"] > 7, "Retry-After: 9 outlasts the 2 s cooldown"
    assert_no_traffic(client, "retry-after", mocks, "t")
    assert t.counts["ok"] == 0


def test_every_deployment_resting_is_answered_at_once(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    x, y = mocks["x"], mocks["y"]
    x.mode = y.mode = "500"
    key = client.api_key
    for _ in range(3):
        assert_openai_error(post(relay, key, "rest"), 502)
    assert {state(relay, "rest", "x"), state(relay, "rest", "y")} == {"cooldown"}
    before = totals(mocks)
    response = post(relay, key, "rest")
    assert response.status_code >= 500
    assert_openai_error(response, response.status_code)
    assert float(response.headers["retry-after"]) >= 1
    assert grown(before, mocks) == {}, "no upstream is bothered while all of them rest"
    row = relay.ledger_row(response.headers["x-request-id"])
    assert row["status"] == response.status_code


@pytest.mark.pool(8)
@pytest.mark.parametrize("fault", LOAD)
def test_breaking_one_deployment_under_load_is_invisible(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream], fault: str
) -> None:
    """300 requests, 8 at a time; one deployment breaks after the first 60: no client sees it."""
    model = f"load-{fault}"
    broken, other = (mocks[name] for name in PAIRS[model])
    answered: list[str] = []

    def one(_: int) -> str:
        text = ask(client, model)[1]
        answered.append(text)
        return text

    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(one, i) for i in range(300)]
            wait_until(lambda: len(answered) >= 60, timeout=60)
            broken.mode = fault
            answers = [future.result() for future in futures]
    finally:
        broken.mode = "ok"
    assert answers == ["echo: hello there"] * 300
    assert other.counts["ok"] > 150
    # The breaker spares it: a few failures (8 may be in flight at once), then probes only.
    assert broken.counts[fault] <= 20, broken.counts
    wait_idle(broken, other)
