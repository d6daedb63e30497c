"""Rate limits as clients see them."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import RunningRelay
from tests.e2e.gate_edges.support import new_key


async def _race(relay: RunningRelay, secret: str, count: int, **body) -> list[httpx.Response]:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    headers = {"authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=relay.base_url, headers=headers, timeout=30) as client:
        return await asyncio.gather(
            *(client.post("/chat/completions", json=body) for _ in range(count))
        )


def test_tpm_holds_when_requests_arrive_together(billing_relay: RunningRelay):
    """TPM is checked against tokens of requests that already ended, and nothing is counted
    at admission: five concurrent 1,000-token requests all pass a 100-token-per-minute key
    (5,050 tokens in the minute). OpenAI counts a request's max_tokens when it admits it."""
    secret = new_key(billing_relay, tpm=100)["key"]
    answers = asyncio.run(_race(billing_relay, secret, 5, model="slow", max_tokens=1000))
    served = [a for a in answers if a.status_code == 200]
    used = sum(a.json()["usage"]["total_tokens"] for a in served)
    assert len(served) <= 1, f"{len(served)} served, {used} tokens in a minute at tpm=100"
