"""Gate edge-case helpers: small mock upstreams with the behaviour real vendors have, and a relay
with priced models in front of them."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from aiohttp import web

from tests.conftest import ADMIN_KEY, RunningRelay, wait_until
from tests.e2e.gate_edges.vendor_billing import billed_prompt_tokens
from tests.mocks.server import ThreadedServer

UPSTREAM_KEY = "sk-billing-upstream-0123456789abcdefghijklmnopq"
ANTHROPIC_KEY = "sk-ant-billing-0123456789abcdefghijklmnopqrstuv"
HUGE = 2**63 + 5
"""A token count that fits no 64-bit signed integer column."""
UNBOUNDED_ANSWER_TOKENS = 20_000
"""What the mock model writes when nothing bounds it (real models go on for as long)."""
PRICE = {"input": 1000.0, "output": 1000.0}  # $0.001 a token


def _limit(body: dict[str, Any]) -> int | None:
    return body.get("max_completion_tokens") or body.get("max_tokens")


@dataclass
class BillingOpenAI(ThreadedServer):
    """An OpenAI-compatible upstream. The model name picks the behaviour:

    - `long`: answers `UNBOUNDED_ANSWER_TOKENS` tokens unless `max_tokens` bounds it (as a
      real model does), usage reported honestly;
    - `slow`: answers after 1.5 s with `max_tokens` tokens, usage reported (billed);
    - `huge-usage`: reports a usage too large for 64 bits;
    - `negative-usage`: reports negative token counts;
    - `doc`: bills the prompt by its size (about 4 bytes a token), attached files included, as
      vendors bill a PDF's pages or an audio clip's seconds;
    - `scripts`: bills the prompt as the dearest real tokenizer counts it (`vendor_billing`)
      and all of `max_tokens`, after 0.3 s (so that racing requests overlap);
    - anything else: a short answer.
    """

    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        model = body["model"]
        limit = _limit(body)
        completion = 3
        prompt = 10
        if model == "long":
            completion = min(limit or UNBOUNDED_ANSWER_TOKENS, UNBOUNDED_ANSWER_TOKENS)
        elif model == "slow":
            await asyncio.sleep(1.5)
            completion = limit or completion
        elif model == "huge-usage":
            prompt = 1234567  # replaced by 2**64 + 5 in the text below
        elif model == "doc":
            prompt = len(orjson.dumps(body["messages"])) // 4
        elif model == "scripts":
            await asyncio.sleep(0.3)
            prompt, completion = billed_prompt_tokens(body["messages"]), limit or completion
        elif model == "negative-usage":
            prompt, completion = 10, -5_000_000
        n = body.get("n") or 1
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion * n,
            "total_tokens": prompt + completion * n,
        }
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": "word " * min(completion, 50)},
                "finish_reason": "stop",
            }
            for i in range(n)
        ]
        payload = {
            "id": "chatcmpl-review",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": usage,
        }
        if body.get("stream"):
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            base = {k: payload[k] for k in ("id", "object", "created", "model")}
            base["object"] = "chat.completion.chunk"
            for _ in range(3):
                delta = {"content": "word "}
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            chunk = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await response.write(
                b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
            )
            await response.write(b"data: [DONE]\n\n")
            return response
        raw = orjson.dumps(payload)
        if model == "huge-usage":
            raw = raw.replace(b"1234567", str(HUGE).encode())
        return web.Response(body=raw, content_type="application/json")


@dataclass
class BillingAnthropic(ThreadedServer):
    """An Anthropic Messages upstream whose model uses all the room `max_tokens` gives it
    (a long thinking block does exactly that), and bills it as output."""

    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        content: list[dict[str, Any]] = []
        if body.get("thinking"):
            content.append({"type": "thinking", "thinking": "hmm " * 20, "signature": "sig"})
        content.append({"type": "text", "text": "ok"})
        return web.json_response(
            {
                "id": "msg_review",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": "max_tokens",
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": body["max_tokens"]},
            }
        )


def billing_config(openai_mock: BillingOpenAI, anthropic_mock: BillingAnthropic | None = None):
    fast = {"connect": 2, "first_token": 5, "idle": 5, "total": 20}
    providers: dict[str, Any] = {
        "up": {
            "type": "openai",
            "base_url": openai_mock.base_url,
            "api_key": UPSTREAM_KEY,
            "timeouts": fast,
        }
    }
    models: dict[str, Any] = {
        name: {"provider": "up", "upstream_model": name, "price": PRICE}
        for name in ("long", "slow", "short", "doc", "scripts", "huge-usage", "negative-usage")
    }
    models["free"] = {"provider": "up", "upstream_model": "short"}
    if anthropic_mock is not None:
        providers["anth"] = {
            "type": "anthropic",
            "base_url": anthropic_mock.base_url,
            "api_key": ANTHROPIC_KEY,
            "timeouts": fast,
        }
        models["claude"] = {
            "provider": "anth",
            "upstream_model": "claude-sonnet-4-6",
            "reasoning": True,
            "price": PRICE,
        }
    return {
        "server": {"keepalive_ping_seconds": 0.3},
        "routing": {"max_attempts": 1},
        "providers": providers,
        "models": models,
    }


def admin(relay: RunningRelay) -> httpx.Client:
    return httpx.Client(
        base_url=relay.url, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )


def new_key(relay: RunningRelay, **fields: Any) -> dict[str, Any]:
    with admin(relay) as client:
        response = client.post("/admin/keys", json={"name": "r-" + secrets.token_hex(4), **fields})
    assert response.status_code == 201, response.text
    return response.json()


def chat(relay: RunningRelay, secret: str, timeout: float = 30, **body: Any) -> httpx.Response:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return httpx.post(
        relay.base_url + "/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {secret}"},
        timeout=timeout,
    )


async def race(relay: RunningRelay, secret: str, count: int, **body: Any) -> list[int]:
    """`count` copies of one chat request at once; their statuses."""
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    headers = {"authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=relay.base_url, headers=headers, timeout=30) as client:
        answers = await asyncio.gather(
            *(client.post("/chat/completions", json=body) for _ in range(count))
        )
    return [answer.status_code for answer in answers]


def ledger_spend(relay: RunningRelay, key_id: str, count: int) -> float:
    """The key's recorded spend once the ledger holds `count` of its records."""

    def stored() -> list[dict[str, Any]] | None:
        with admin(relay) as client:
            page = client.get("/admin/requests", params={"key_id": key_id, "limit": 1000})
        rows = page.json()["data"]
        return rows if len(rows) >= count else None

    rows = wait_until(stored, 30)
    return round(sum(row["cost_usd"] for row in rows), 9)
