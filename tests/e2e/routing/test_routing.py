"""Routing that survives failure: failover before the first byte, tiers, fallbacks, weights.

The relay here runs against one fault-injecting mock per deployment (tests/mocks/
fault_upstream.py; the fixtures are in conftest.py). Its breaker needs 1,000 failures to trip,
so every test sees each deployment fresh; the cooldowns have their own relay in
test_routing_breaker.py.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN, RunningRelay, wait_until
from tests.e2e.routing.helpers import (
    ask,
    assert_openai_error,
    deployment,
    deployments,
    grown,
    post,
    provider,
    seen_by,
    totals,
    wait_idle,
)
from tests.mocks.fault_upstream import FaultUpstream

MOCKS = ("a", "b", "c", "d", "e", "f", "g", "h")
FIRST_TOKEN = 1.0


def dep(name: str, suffix: str = "", **extra: Any) -> dict[str, Any]:
    return {"provider": name, "upstream_model": f"up-{name}{suffix}", **extra}


def pair(tag: str) -> dict[str, Any]:
    """a first (priority 0), then b (priority 1), under upstream names ending in `-tag`."""
    return {"deployments": [dep("a", f"-{tag}"), dep("b", f"-{tag}", priority=1)]}


FAULTS = ["refuse", "500", "503", "429", "hang_before_headers"]
FAILING = [("500", "429", 429), ("429", "500", 502), ("refuse", "503", 503), ("500", "refuse", 502)]
TAGS = [f"{fault}-{s}" for fault in FAULTS for s in "ws"]
TAGS += [f"{first}-{last}-{s}" for first, last, _ in FAILING for s in "ws"] + ["rested"]


def relay_config(mocks: dict[str, FaultUpstream]) -> dict[str, Any]:
    return {
        "routing": {
            "max_attempts": 4,
            "backoff_seconds": 0.01,
            "breaker": {"failures": 1000, "window_seconds": 30, "cooldown_seconds": 1},
        },
        "providers": {name: provider(mock) for name, mock in mocks.items()},
        "models": {
            "pair": {
                "deployments": [dep("a", priority=0), dep("b", priority=1)],
                "aliases": ["pair-alias"],
            },
            # Each failure scenario gets a pair of its own: its breakers start fresh.
            **{f"pair-{tag}": pair(tag) for tag in TAGS},
            "trio": {"deployments": [dep("c"), dep("d"), dep("e")]},
            "budget": {"deployments": [dep(n) for n in ("c", "d", "e", "f", "g", "h")]},
            "weighted": {
                "deployments": [dep("a", weight=3, priority=0), dep("b", weight=1, priority=0)]
            },
            "tiers": {
                "deployments": [dep("c", priority=0), dep("d", priority=0), dep("e", priority=1)]
            },
            "fb": {"deployments": [dep("f")], "fallbacks": ["fb-target"]},
            "fb-target": {"provider": "g", "upstream_model": "up-g"},
            "simple": {"provider": "h", "upstream_model": "up-h"},
            "counted": {
                "deployments": [
                    {"provider": "c", "upstream_model": "up-c-counted", "priority": 0},
                    dep("d", priority=1),
                ]
            },
        },
    }


@pytest.fixture(autouse=True)
def rested(fresh: None, relay: RunningRelay) -> None:
    """No deployment rests (a 429 rests one for its Retry-After)."""

    def resting() -> list[dict[str, Any]]:
        rows = (
            httpx.get(relay.url + "/readyz", headers=ADMIN, timeout=5).json().get("deployments", [])
        )
        return [row for row in rows if row.get("state") == "cooldown"]

    try:
        wait_until(lambda: not resting(), timeout=15)
    except AssertionError:
        raise AssertionError(f"deployments still resting: {resting()}") from None


# ---- one broken deployment: the client never notices ----------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fault", FAULTS)
def test_failover_to_another_deployment(
    relay: RunningRelay,
    client: openai.OpenAI,
    mocks: dict[str, FaultUpstream],
    fault: str,
    stream: bool,
) -> None:
    a, b = mocks["a"], mocks["b"]
    a.mode = fault
    tag = f"{fault}-{'s' if stream else 'w'}"
    public, suffix = f"pair-{tag}", f"-{tag}"
    before = totals(mocks)
    started = time.monotonic()
    request_id, text, model = ask(client, public, stream)
    elapsed = time.monotonic() - started

    assert text == "echo: hello there"
    assert model == public
    assert elapsed < FIRST_TOKEN + 3, "a hung deployment may cost its first_token timeout only"
    expected = {"b": 1} if fault == "refuse" else {"a": 1, "b": 1}
    assert grown(before, mocks) == expected
    assert b.counts["ok"] >= 1
    if fault != "refuse":
        assert seen_by(mocks, request_id) == ["a", "b"]
    row = relay.ledger_row(request_id)
    assert (row["status"], row["provider"], row["upstream_model"]) == (200, "b", "up-b" + suffix)
    assert row["completion_tokens"] == 3
    wait_idle(a, b)


def test_a_400_is_answered_at_once_and_never_retried(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["a"].mode = "400"
    before = totals(mocks)
    response = post(relay, api_key, "pair")
    error = assert_openai_error(response, 400)
    assert "logit_bias" in error["message"]
    assert grown(before, mocks) == {"a": 1}, "only one upstream may see a request it refused"
    row = relay.ledger_row(response.headers["x-request-id"])
    assert (row["status"], row["provider"]) == (400, "a")


def test_a_single_failure_after_a_retry_after_rest_does_not_cool_down(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    """Cooldowns come from `breaker.failures` (here 1,000) failures: a deployment that rested
    for a 429's Retry-After and then fails once is not put in a (growing) cooldown."""
    mocks["a"].mode = "429"
    assert ask(client, "pair-rested")[1] == "echo: hello there"
    wait_until(lambda: deployment(relay, "pair-rested", "a")["state"] != "cooldown", timeout=5)
    for _ in range(3):
        mocks["a"].mode = "500"
        request_id, _, _ = ask(client, "pair-rested")
        assert seen_by(mocks, request_id) == ["a", "b"]
        row = deployment(relay, "pair-rested", "a")
        assert row["state"] != "cooldown", row


def test_each_failed_attempt_is_logged(relay: RunningRelay, client: openai.OpenAI, mocks) -> None:
    mocks["a"].mode = "500"
    before = len(relay.log())
    ask(client, "pair")

    def failure_lines() -> list[str]:
        lines = relay.log()[before:].splitlines()
        return [line for line in lines if "WARNING" in line and "pair via a failed (5xx)" in line]

    [line] = wait_until(failure_lines, timeout=5)
    assert "via b" not in line


# ---- every deployment broken: the right error, in time ------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("first", "last", "status"), FAILING)
def test_all_deployments_failing_answer_as_the_last_one(
    relay: RunningRelay,
    api_key: str,
    mocks: dict[str, FaultUpstream],
    first: str,
    last: str,
    status: int,
    stream: bool,
) -> None:
    mocks["a"].mode, mocks["b"].mode = first, last
    tag = f"{first}-{last}-{'s' if stream else 'w'}"
    public, suffix = f"pair-{tag}", f"-{tag}"
    response = post(relay, api_key, public, stream)
    assert_openai_error(response, status)
    if last == "429":
        assert float(response.headers["retry-after"]) >= 1
    row = relay.ledger_row(response.headers["x-request-id"])
    expected = (status, "b", "up-b" + suffix)
    assert (row["status"], row["provider"], row["upstream_model"]) == expected
    wait_idle(mocks["a"], mocks["b"])


def test_all_deployments_hanging_time_out_in_time(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    trio = [mocks[n] for n in ("c", "d", "e")]
    for mock in trio:
        mock.mode = "hang_before_headers"
    for stream in (False, True):
        started = time.monotonic()
        response = post(relay, api_key, "trio", stream)
        elapsed = time.monotonic() - started
        error = assert_openai_error(response, 504)
        assert error["code"] == "upstream_timeout"
        assert elapsed < 3 * FIRST_TOKEN + 3, f"three 1 s timeouts took {elapsed:.1f} s"
        assert sorted(seen_by(mocks, response.headers["x-request-id"])) == ["c", "d", "e"]
    wait_idle(*trio)


def test_never_the_same_deployment_twice(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    for name in ("c", "d", "e"):
        mocks[name].mode = "500"
    for _ in range(5):
        response = post(relay, api_key, "trio")
        assert_openai_error(response, 502)
        assert sorted(seen_by(mocks, response.headers["x-request-id"])) == ["c", "d", "e"]


def test_attempts_stop_at_max_attempts(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    six = [mocks[n] for n in ("c", "d", "e", "f", "g", "h")]
    for mock in six:
        mock.mode = "503"
    for _ in range(5):
        before = totals(mocks)
        response = post(relay, api_key, "budget")
        assert_openai_error(response, 503)
        attempts = seen_by(mocks, response.headers["x-request-id"])
        assert len(attempts) == 4 and len(set(attempts)) == 4, attempts
        assert sum(grown(before, mocks).values()) == 4


# ---- tiers, fallbacks, aliases ----------------------------------------------------------------


def test_the_best_tier_takes_all_the_traffic(
    client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    before = totals(mocks)
    for _ in range(30):
        ask(client, "tiers")
    share = grown(before, mocks)
    assert set(share) <= {"c", "d"} and sum(share.values()) == 30
    assert share.get("c", 0) > 0 and share.get("d", 0) > 0


def test_fall_through_to_the_next_tier(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["c"].mode, mocks["d"].mode = "500", "refuse"
    for stream in (False, True):
        request_id, text, _ = ask(client, "tiers", stream)
        assert text == "echo: hello there"
        assert seen_by(mocks, request_id) == ["c", "e"], "d refuses: it never sees a request"
        assert relay.ledger_row(request_id)["provider"] == "e"
    wait_idle(*mocks.values())


def test_fallback_to_another_model(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["f"].mode = "500"
    for stream in (False, True):
        request_id, text, model = ask(client, "fb", stream)
        assert text == "echo: hello there"
        assert model == "fb", "the client is answered under the name it asked for"
        assert seen_by(mocks, request_id) == ["f", "g"]
        assert mocks["g"].received[-1].body["model"] == "up-g"
        row = relay.ledger_row(request_id)
        assert (row["provider"], row["upstream_model"], row["status"]) == ("g", "up-g", 200)


def test_fallbacks_exhausted_answer_the_last_error(
    relay: RunningRelay, api_key: str, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["f"].mode, mocks["g"].mode = "503", "500"
    response = post(relay, api_key, "fb")
    assert_openai_error(response, 502)
    assert seen_by(mocks, response.headers["x-request-id"]) == ["f", "g"]
    assert relay.ledger_row(response.headers["x-request-id"])["provider"] == "g"


def test_an_alias_answers_under_its_own_name(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    for stream in (False, True):
        request_id, text, model = ask(client, "pair-alias", stream)
        assert (text, model) == ("echo: hello there", "pair-alias")
        assert mocks["a"].received[-1].body["model"] == "up-a"
        assert relay.ledger_row(request_id)["provider"] == "a"


def test_the_single_provider_form_still_works(client: openai.OpenAI, mocks) -> None:
    _, text, model = ask(client, "simple")
    assert (text, model) == ("echo: hello there", "simple")
    assert mocks["h"].received[-1].body["model"] == "up-h"


# ---- weights, readiness, the ledger ----------------------------------------------------------


@pytest.mark.pool(8)
def test_weights_are_respected(client: openai.OpenAI, mocks: dict[str, FaultUpstream]) -> None:
    before = totals(mocks)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: ask(client, "weighted")[1], range(400)))
    assert answers == ["echo: hello there"] * 400
    share = grown(before, mocks)
    assert set(share) == {"a", "b"} and sum(share.values()) == 400
    # Binomial(400, 0.75): standard deviation 0.022, so +-0.08 is beyond 3.5 sigma.
    assert 0.67 <= share["a"] / 400 <= 0.83, share


def test_readyz_shows_every_deployment(relay: RunningRelay) -> None:
    response = httpx.get(relay.url + "/readyz", headers=ADMIN)
    assert response.status_code == 200
    fields = {
        "model",
        "provider",
        "upstream_model",
        "priority",
        "weight",
        "state",
        "cooldown_remaining_seconds",
        "consecutive_failures",
    }
    rows = response.json()["deployments"]
    assert all(fields <= set(row) for row in rows), rows
    weighted = sorted(deployments(relay, "weighted"), key=lambda row: row["provider"])
    assert [(r["provider"], r["upstream_model"], r["weight"], r["priority"]) for r in weighted] == [
        ("a", "up-a", 3, 0),
        ("b", "up-b", 1, 0),
    ]
    assert [d["priority"] for d in deployments(relay, "pair")] == [0, 1]
    assert len(deployments(relay, "budget")) == 6
    simple = deployment(relay, "simple", "h")
    assert (simple["upstream_model"], simple["priority"]) == ("up-h", 0)
    for row in weighted:
        assert row["state"] == "healthy"
        assert row["consecutive_failures"] == 0
        assert not row["cooldown_remaining_seconds"]


def test_readyz_counts_failures(relay: RunningRelay, client: openai.OpenAI, mocks) -> None:
    mocks["c"].mode = "500"
    assert deployment(relay, "counted", "c")["consecutive_failures"] == 0
    for _ in range(2):
        request_id, _, _ = ask(client, "counted")
        assert seen_by(mocks, request_id) == ["c", "d"]
    row = deployment(relay, "counted", "c")
    assert (row["consecutive_failures"], row["state"]) == (2, "healthy")
    assert deployment(relay, "counted", "d")["consecutive_failures"] == 0


def test_one_ledger_record_per_client_request(
    relay: RunningRelay, client: openai.OpenAI, mocks: dict[str, FaultUpstream]
) -> None:
    mocks["a"].mode = "500"
    since = time.time()
    ids = [ask(client, "pair", stream=i % 2 == 1)[0] for i in range(6)]
    for request_id in ids:
        relay.ledger_row(request_id)
    engine = sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT request_id, provider FROM usage_records WHERE created_at >= :t"),
                {"t": since},
            ).all()
    finally:
        engine.dispose()
    assert sorted(r.request_id for r in rows) == sorted(ids), "one record per client request"
    assert {r.provider for r in rows} == {"b"}
    assert mocks["a"].counts["500"] >= 6
