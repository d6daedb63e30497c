"""Requests raced against one budget: what the budget, limit and account tests share."""

from __future__ import annotations

import asyncio

import openai

ASK = [{"role": "user", "content": "hello there"}]
"""The prompt every priced race sends (its cost is `COST` in test_budgets_limits)."""


async def race(base_urls: list[str], keys: list[str], requests: int) -> tuple[int, list[str]]:
    """`requests` at once, spread over the keys and the relays; (successes, refusal codes)."""
    clients = [
        openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)
        for url in base_urls
        for key in keys
    ]

    async def one(i: int) -> str:
        try:
            await clients[i % len(clients)].chat.completions.create(
                model="priced", messages=ASK, max_tokens=5
            )
        except openai.RateLimitError as error:
            return error.code or "?"
        return "ok"

    try:
        outcomes = await asyncio.gather(*(one(i) for i in range(requests)))
    finally:
        for client in clients:
            await client.close()
    return outcomes.count("ok"), [o for o in outcomes if o != "ok"]
