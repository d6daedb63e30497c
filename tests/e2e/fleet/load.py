"""Clients for the fleet: several at once, each on its own connections, sending chat requests
(whole and streamed) through nginx, and what each request came to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

MODEL = "gpt-4o-mini"
"""The shipped config's model, priced."""
DONE = b"data: [DONE]"


@dataclass
class Outcome:
    marker: str
    """The request's own text, as the upstream received it."""
    stream: bool
    client_ip: str
    """What the client said it was, in X-Forwarded-For."""
    started: float
    status: int = 0
    request_id: str | None = None
    whole: bool = False
    """The answer arrived whole: a JSON body, or a stream to its `[DONE]`."""
    code: str | None = None
    """The error's code, for a refusal."""
    model: str = MODEL

    @property
    def answered(self) -> bool:
        return self.status == 200 and self.whole


def chat_body(marker: str, stream: bool, model: str = MODEL) -> dict:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": f"hello {marker}"}],
        "max_tokens": 5,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def send(client: httpx.AsyncClient, outcome: Outcome) -> Outcome:
    """One request; its outcome filled in. A connection cut mid-answer is an outcome too."""
    body = chat_body(outcome.marker, outcome.stream, outcome.model)
    headers = {"x-forwarded-for": outcome.client_ip}
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
            outcome.status = r.status_code
            outcome.request_id = r.headers.get("x-request-id")
            content = await r.aread()
    except httpx.HTTPError:
        return outcome  # cut off: not whole
    if r.status_code != 200:
        outcome.code = _error_code(r)
    elif outcome.stream:
        outcome.whole = content.rstrip().endswith(DONE)
    else:
        outcome.whole = b'"choices"' in content
    return outcome


def _error_code(response: httpx.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def client_for(url: str, key: str) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=60)


async def run_load(
    url: str,
    key: str,
    total: int,
    clients: int,
    progress: Callable[[int, list[Outcome]], None] | None = None,
    slow: tuple[str, int] | None = None,
) -> list[Outcome]:
    """`total` requests from `clients` clients at once, each sending its share one after the
    other, every other request streamed; with `slow` (a model, n), every n-th request is a
    stream of that model. Client i says it is 203.0.113.(i+1). `progress(n, in_flight)` is
    called as the n-th request ends, with the requests still under way."""
    outcomes: list[Outcome] = []
    in_flight: dict[int, Outcome] = {}

    def planned(index: int, number: int) -> Outcome:
        outcome = Outcome(f"c{index}-n{number}", number % 2 == 1, f"203.0.113.{index + 1}", 0.0)
        if slow is not None and number % slow[1] == 0:
            outcome.model, outcome.stream = slow[0], True
        return outcome

    async def one_client(index: int) -> None:
        async with client_for(url, key) as client:
            for number in range(index, total, clients):
                outcome = in_flight[index] = planned(index, number)
                outcome.started = time.monotonic()
                outcomes.append(await send(client, outcome))
                del in_flight[index]
                if progress is not None:
                    progress(len(outcomes), list(in_flight.values()))

    await asyncio.gather(*(one_client(index) for index in range(clients)))
    return outcomes


async def burst(url: str, key: str, total: int, clients: int = 4) -> list[Outcome]:
    """`total` requests all at once, over `clients` connection pools, half of them streamed."""
    pools = [client_for(url, key) for _ in range(clients)]
    try:
        return await asyncio.gather(
            *(
                send(
                    pools[n % clients],
                    Outcome(f"b{n}", n % 2 == 1, "203.0.113.99", time.monotonic()),
                )
                for n in range(total)
            )
        )
    finally:
        for pool in pools:
            await pool.aclose()


async def steady_flow(
    url: str, key: str, stop: asyncio.Event, prefix: str, clients: int = 4
) -> list[Outcome]:
    """New requests from `clients` clients, each sending one after the other (every other one
    streamed) until `stop` is set; their outcomes, in the order they ended."""
    outcomes: list[Outcome] = []

    async def one_client(index: int) -> None:
        async with client_for(url, key) as client:
            number = 0
            while not stop.is_set():
                marker, streamed = f"{prefix}{index}-n{number}", number % 2 == 1
                outcome = Outcome(marker, streamed, f"203.0.113.{index + 1}", time.monotonic())
                outcomes.append(await send(client, outcome))
                number += 1

    await asyncio.gather(*(one_client(index) for index in range(clients)))
    return outcomes
