"""Active health checks, end to end: the relay probes a deployment whose breaker is open and
brings it back as soon as it answers, long before its cooldown would have ended.

The cooldown here is 300 s and the checks run every 0.2 s: a deployment back within seconds
was brought back by a probe. (The probe itself is driven directly in tests/routing.)
"""

from __future__ import annotations

from typing import Any

import openai

from tests.conftest import RunningRelay, wait_until
from tests.e2e.routing.helpers import ask, deployment, grown, provider, seen_by, totals
from tests.mocks.fault_upstream import FaultUpstream

MOCKS = ("p", "q", "r", "s")
COOLDOWN = 300


def relay_config(mocks: dict[str, FaultUpstream]) -> dict[str, Any]:
    def pair(first: str, second: str) -> dict[str, Any]:
        return {"deployments": [dep(first), dep(second)]}

    return {
        "routing": {
            "backoff_seconds": 0.01,
            "breaker": {"failures": 2, "cooldown_seconds": COOLDOWN, "max_cooldown_seconds": 600},
            "health_check": {"interval_seconds": 0.2, "timeout_seconds": 1},
        },
        "providers": {name: provider(mock) for name, mock in mocks.items()},
        "models": {"back": pair("p", "q"), "still": pair("r", "s")},
    }


def dep(name: str) -> dict[str, Any]:
    return {"provider": name, "upstream_model": f"up-{name}"}


def trip(relay: RunningRelay, client: openai.OpenAI, model: str, mock: FaultUpstream) -> None:
    """Requests (answered by the other deployment) until `mock`'s breaker opens."""
    for _ in range(100):
        assert ask(client, model)[1] == "echo: hello there"
        if deployment(relay, model, mock.name)["state"] == "cooldown":
            return
    raise AssertionError(f"{mock.name} never went into cooldown")


def test_a_probe_brings_a_mended_deployment_back(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    p = mocks["p"]
    p.mode = "500"
    trip(relay, client, "back", p)
    assert deployment(relay, "back", "p")["cooldown_remaining_seconds"] > COOLDOWN - 10
    p.mode = "ok"
    wait_until(lambda: deployment(relay, "back", "p")["state"] == "healthy", timeout=10)
    probe = p.received[-1]
    assert p.request_ids[-1].startswith("probe_")
    assert probe.body["max_tokens"] == 1 and probe.body["model"] == "up-p"

    before = totals(mocks)
    for _ in range(40):
        ask(client, "back")
    assert grown(before, mocks).get("p", 0) >= 5, "p takes traffic again"


def test_a_deployment_still_failing_stays_out_without_a_longer_cooldown(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    r = mocks["r"]
    r.mode = "500"
    trip(relay, client, "still", r)
    remaining = deployment(relay, "still", "r")["cooldown_remaining_seconds"]
    failed = r.counts["500"]
    wait_until(lambda: r.counts["500"] >= failed + 3, timeout=10)  # three probes failed
    row = deployment(relay, "still", "r")
    assert row["state"] == "cooldown"
    assert row["cooldown_remaining_seconds"] <= remaining, "probes never lengthen a cooldown"
    for _ in range(10):
        request_id = ask(client, "still")[0]
        assert seen_by(mocks, request_id) == ["s"], "only probes reach r"
