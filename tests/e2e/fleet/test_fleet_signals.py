"""Signals to the replicas behind nginx (docs/deploy.md, "Reload and drain"): a replica
SIGTERMed with fifty streams open finishes every one, bills it and exits 0, while nginx sends
every new request to the others; a SIGHUP to every replica under load adds a model and
reprices another, with no request failing and the streams begun before it billed at the old
price."""

from __future__ import annotations

import asyncio
import copy
import json
import signal
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, wait_until
from tests.e2e.fleet.conftest import PACED_MODEL, Fleet
from tests.e2e.fleet.load import Outcome, burst, client_for, steady_flow
from tests.e2e.test_drain import Stream, chat

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.nginx]

STREAMS = 50
SHORTEST = 40
"""Words in the shortest of the fifty streams (2 s at the paced model's 0.05 s a word); each
next one a word longer, so the draining replica's streams end one by one over 2.5 s while
nginx goes on choosing among the replicas by their open requests (`least_conn`)."""
WARM = 30
"""Requests sent at once before the signal, so that nginx has connections kept alive to every
replica, the one to be stopped too, as in a busy fleet."""
NEW_PRICE = {"input": 10.0, "output": 20.0}
ADDED_MODEL = "added"


def cost(row: dict[str, Any], price: dict[str, float]) -> float:
    prompt, completion = row["prompt_tokens"], row["completion_tokens"]
    return (prompt * price["input"] + completion * price["output"]) / 1e6


def provider_name(fleet: Fleet) -> str:
    return fleet.config["models"][PACED_MODEL]["provider"]


def busiest(fleet: Fleet) -> int:
    """The replica with the most upstream connections in use (its open streams)."""

    def in_use(index: int) -> int:
        status = httpx.get(fleet.replicas[index].url + "/admin/status", headers=ADMIN).json()
        return status["providers"][provider_name(fleet)]["connections_in_use"]

    return max(range(len(fleet.replicas)), key=in_use)


def refusing(port: int) -> float | None:
    """When a new connection to `port` is refused (its listener closed; reset, when it
    closed as the connection came), or None yet."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return time.monotonic()
    return None


def whole(stream: Stream, words: int) -> bool:
    """The stream echoed its `words` words and ended as a stream ends: `stop`, `[DONE]`."""
    last = json.loads(stream.data[-2])["choices"][0]["finish_reason"]
    echoed = stream.text() == "echo: " + " ".join(f"w{i}" for i in range(words))
    return echoed and last == "stop" and stream.data[-1] == "[DONE]"


def repriced_with_a_new_model(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the paced model at `NEW_PRICE` and one more model, priced the same."""
    new = copy.deepcopy(config)
    paced = new["models"][PACED_MODEL]
    paced["price"] = NEW_PRICE
    new["models"][ADDED_MODEL] = {
        "provider": paced["provider"],
        "upstream_model": "mock-echo",
        "price": NEW_PRICE,
    }
    return new


@dataclass
class Reloaded:
    """What the SIGHUP scenario saw."""

    before: list[Stream] = field(default_factory=list)
    """Paced streams begun before the reload, through nginx."""
    open_at_reload: int = 0
    """How many of them were still open once every replica had reloaded."""
    after: list[Stream] = field(default_factory=list)
    """A paced stream on each replica (directly) after the reload."""
    added: list[httpx.Response] = field(default_factory=list)
    """The new model, on each replica (directly) and through nginx."""
    flow: list[Outcome] = field(default_factory=list)


BEFORE = 9
"""Paced streams open across the reload, spread over the replicas by nginx's `least_conn`."""


async def sighup_under_load(fleet: Fleet, key: str, new: dict[str, Any], seen: Reloaded) -> None:
    stop = asyncio.Event()
    flow = asyncio.create_task(steady_flow(fleet.url, key, stop, "h"))
    async with client_for(fleet.url, key) as client:
        seen.before = [Stream() for _ in range(BEFORE)]
        tasks = [
            asyncio.create_task(s.run(client, "/v1/chat/completions", chat(80, PACED_MODEL)))
            for s in seen.before
        ]
        await asyncio.wait_for(asyncio.gather(*(s.first.wait() for s in seen.before)), 30)
        await asyncio.to_thread(fleet.reconfigure, new)
        seen.open_at_reload = sum(not task.done() for task in tasks)
        for replica in fleet.replicas:
            async with client_for(replica.url, key) as direct:
                seen.after.append(Stream())
                await seen.after[-1].run(direct, "/v1/chat/completions", chat(5, PACED_MODEL))
                seen.added.append(await ask_added(direct))
        seen.added.append(await ask_added(client))
        await asyncio.gather(*tasks)
    stop.set()
    seen.flow = await flow


async def ask_added(client: httpx.AsyncClient) -> httpx.Response:
    body = {"model": ADDED_MODEL, "messages": [{"role": "user", "content": "new here"}]}
    return await client.post("/v1/chat/completions", json=body)


def test_a_sighup_to_every_replica_under_load_adds_a_model_and_reprices_another(
    fleet: Fleet,
) -> None:
    key = fleet.new_key()
    old_price = fleet.config["models"][PACED_MODEL]["price"]
    new = repriced_with_a_new_model(fleet.config)
    seen = Reloaded()
    asyncio.run(sighup_under_load(fleet, key["key"], new, seen))

    assert [o for o in seen.flow if not o.answered] == []  # no request failed
    assert seen.open_at_reload == BEFORE  # (they did run across the reload)
    assert all(whole(s, 80) for s in seen.before) and all(whole(s, 5) for s in seen.after)
    before = [s.request_id for s in seen.before]
    assert len(set(fleet.served_by(before))) == len(fleet.replicas)
    for answer in seen.added:  # every replica, and nginx, serve the new model
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "echo: new here"

    after = [s.request_id for s in seen.after] + [a.headers["x-request-id"] for a in seen.added]
    request_ids = [*before, *after, *(o.request_id for o in seen.flow)]
    rows = fleet.ledger(key["id"], request_ids)
    assert Counter(row["request_id"] for row in rows) == Counter(request_ids)  # once each
    by_id = {row["request_id"]: row for row in rows}
    for request_id in before:  # billed at the price they began with
        row = by_id[request_id]
        assert row["cost_usd"] == pytest.approx(cost(row, old_price))
    for request_id in after:  # at the new one, on every replica
        row = by_id[request_id]
        assert row["cost_usd"] == pytest.approx(cost(row, NEW_PRICE))
        assert row["cost_usd"] > cost(row, old_price)


@dataclass
class Drained:
    """What the SIGTERM scenario saw."""

    victim: int | None = None
    streams: list[Stream] = field(default_factory=list)
    flow: list[Outcome] = field(default_factory=list)
    warm: list[Outcome] = field(default_factory=list)
    open_at_signal: int = 0
    listener_closed: float = 0.0


async def sigterm_under_load(fleet: Fleet, key: str, seen: Drained) -> None:
    """Fifty paced streams and a steady flow of new requests through nginx; the replica
    serving the most streams SIGTERMed once all of them are under way; back once it exited
    and the flow ran on a little."""
    stop = asyncio.Event()
    flow = asyncio.create_task(steady_flow(fleet.url, key, stop, "t"))
    async with client_for(fleet.url, key) as client:
        seen.streams = [Stream() for _ in range(STREAMS)]
        tasks = [
            asyncio.create_task(
                stream.run(client, "/v1/chat/completions", chat(SHORTEST + n, PACED_MODEL))
            )
            for n, stream in enumerate(seen.streams)
        ]
        await asyncio.wait_for(asyncio.gather(*(s.first.wait() for s in seen.streams)), 30)
        seen.warm = await burst(fleet.url, key, WARM)
        seen.victim = await asyncio.to_thread(busiest, fleet)
        victim = fleet.replicas[seen.victim]  # (a restart replaces it)
        victim.process.send_signal(signal.SIGTERM)
        seen.open_at_signal = sum(not task.done() for task in tasks)
        port = fleet.ports[seen.victim]
        seen.listener_closed = await asyncio.to_thread(wait_until, lambda: refusing(port), 10)
        await asyncio.gather(*tasks)
        await asyncio.to_thread(victim.process.wait, 30)
    await asyncio.sleep(0.5)  # new requests after the exit too
    stop.set()
    seen.flow = await flow


def test_a_replica_sigtermed_with_fifty_streams_open_bills_them_all_and_takes_nothing_new(
    fleet: Fleet,
) -> None:
    key = fleet.new_key()
    price = fleet.config["models"][PACED_MODEL]["price"]
    seen = Drained()
    try:
        asyncio.run(sigterm_under_load(fleet, key["key"], seen))
    finally:
        if seen.victim is not None:  # three replicas again for what follows
            drained = fleet.restart(seen.victim)
    assert drained.process.returncode == 0, drained.log()
    assert seen.open_at_signal == STREAMS

    words = [SHORTEST + n for n in range(STREAMS)]
    assert all(whole(s, n) for s, n in zip(seen.streams, words, strict=True))
    stream_ids = [s.request_id for s in seen.streams]
    victim = fleet.address(seen.victim)
    share = Counter(fleet.served_by(stream_ids))[victim]
    assert share >= STREAMS // 5, f"the SIGTERMed replica served only {share} streams"

    # Every new request was answered, none by the draining replica; and nginx sends no POST
    # on once it has sent it to a replica (docs/deploy.md), so none reached it. (The drain
    # begins, and the listener closes, within uvicorn's tick of 0.1 s after the signal.)
    flow = [*seen.warm, *seen.flow]
    assert [o for o in flow if not o.answered] == []
    new = [o for o in flow if o.started > seen.listener_closed]
    assert len(new) >= 20, "too few requests were sent while the replica drained"
    assert victim not in fleet.served_by([o.request_id for o in new])

    request_ids = [*stream_ids, *(o.request_id for o in flow)]
    rows = fleet.ledger(key["id"], request_ids)
    assert Counter(row["request_id"] for row in rows) == Counter(request_ids)  # once each
    by_id = {row["request_id"]: row for row in rows}
    for stream, n in zip(seen.streams, words, strict=True):
        row = by_id[stream.request_id]
        assert (row["status"], row["error_code"], row["completion_tokens"]) == (200, None, n + 1)
        assert row["cost_usd"] == pytest.approx(cost(row, price)) and row["cost_usd"] > 0
