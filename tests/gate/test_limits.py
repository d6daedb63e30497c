"""Rate limits per key: requests and tokens per minute, requests at once; in this process and
shared through Redis; and the gate that applies them with OpenAI's headers."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from llmrelay.config import BillingConfig, ModelConfig, Price
from llmrelay.gate.admission import Gate
from llmrelay.gate.budget_book import LocalBudgetBook
from llmrelay.gate.budgets import Budgets
from llmrelay.gate.limit_book import LocalLimitBook, RedisLimitBook
from llmrelay.metering.prices import NANO_PER_USD, worst_case_nano
from llmrelay.metering.tokens import TokenCounter
from llmrelay.protocol.errors import RelayError
from llmrelay.protocol.request import ChatRequest, parse_chat_request
from llmrelay.store.database import migrate, open_engine
from llmrelay.store.keys import ApiKey
from llmrelay.store.usage import UsageStore
from tests.services import redis_or_skip

pytestmark = pytest.mark.asyncio(loop_scope="session")

MINUTE_START = 1_790_000_040.0  # a whole minute


class Clock:
    def __init__(self) -> None:
        self.now = MINUTE_START

    def __call__(self) -> float:
        return self.now


def limited(**limits) -> ApiKey:
    key_id = "key_" + secrets.token_hex(4)
    return ApiKey(key_id, key_id, "h", "sk-x", **limits)


def request(body: str = '"hi"', **extra) -> object:
    import orjson

    document = {"model": "m", "messages": [{"role": "user", "content": body}], **extra}
    return parse_chat_request(orjson.dumps(document))


@pytest.fixture()
def usage(tmp_path: Path) -> UsageStore:
    engine = open_engine(f"sqlite:///{tmp_path / 'usage.db'}")
    migrate(engine)
    return UsageStore(engine)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def gate(usage: UsageStore, clock: Clock) -> Gate:
    budgets = Budgets(LocalBudgetBook(), usage, clock=clock)
    return Gate(LocalLimitBook(clock), budgets, TokenCounter(), BillingConfig(), clock=clock)


FREE = [ModelConfig(provider="p")]


async def refused(gate: Gate, key: ApiKey, **kwargs) -> RelayError:
    with pytest.raises(RelayError) as caught:
        await gate.admit(key, request(), FREE, kwargs.get("client", "127.0.0.1"))
    return caught.value


async def test_requests_per_minute_then_a_new_minute(gate: Gate, clock: Clock) -> None:
    key = limited(rpm=3)
    for remaining in (2, 1, 0):
        admission = await gate.admit(key, request(), FREE, "127.0.0.1")
        headers = dict(admission.headers)
        assert headers[b"x-ratelimit-limit-requests"] == b"3"
        assert headers[b"x-ratelimit-remaining-requests"] == str(remaining).encode()
        await gate.release(admission, 10, 0)
    clock.now += 45
    error = await refused(gate, key)
    assert (error.status, error.code, error.type) == (429, "rate_limit_exceeded", "requests")
    assert dict(error.headers())[b"retry-after"] == b"15"
    assert dict(error.headers())[b"x-ratelimit-reset-requests"] == b"15s"
    clock.now += 15
    assert await gate.admit(key, request(), FREE, "127.0.0.1") is not None


async def test_tokens_per_minute_count_estimates_then_what_was_used(
    gate: Gate, clock: Clock
) -> None:
    key = limited(tpm=100)
    asked = gate.estimator.prompt_tokens(request()) + 20
    first = await gate.admit(key, request(max_tokens=20), FREE, None)
    assert dict(first.headers)[b"x-ratelimit-remaining-tokens"] == str(100 - asked).encode()
    await gate.release(first, 60, 0)  # it used more than its estimate
    second = await gate.admit(key, request(max_tokens=20), FREE, None)
    assert dict(second.headers)[b"x-ratelimit-remaining-tokens"] == str(40 - asked).encode()
    with pytest.raises(RelayError) as caught:  # in flight: its estimate still counts
        await gate.admit(key, request(max_tokens=20), FREE, None)
    assert (caught.value.code, caught.value.type) == ("rate_limit_exceeded", "tokens")
    await gate.release(second, 5, 0)  # used less: the window gets the rest back
    assert await gate.admit(key, request(max_tokens=20), FREE, None) is not None
    clock.now += 60
    assert await gate.admit(key, request(max_tokens=20), FREE, None) is not None


async def test_a_request_larger_than_the_tpm_is_told_it_can_never_fit(gate: Gate) -> None:
    with pytest.raises(RelayError) as caught:
        await gate.admit(limited(tpm=100), request(max_tokens=500), FREE, None)
    assert "never fit" in caught.value.message


async def test_concurrent_requests_are_slots_given_back(gate: Gate) -> None:
    key = limited(max_concurrent=2)
    held = [await gate.admit(key, request(), FREE, None) for _ in range(2)]
    error = await refused(gate, key)
    assert error.status == 429 and dict(error.headers())[b"retry-after"] == b"1"
    await gate.release(held[0], 0, 0)
    await gate.release(held[0], 0, 0)  # twice is once
    assert await gate.admit(key, request(), FREE, None) is not None
    await refused(gate, key)


@pytest.mark.parametrize(
    ("allowed", "client", "ok"),
    [
        (("10.0.0.0/8",), "10.1.2.3", True),
        (("10.0.0.0/8",), "192.168.1.1", False),
        (("203.0.113.7",), "203.0.113.7", True),
        (("2001:db8::/32",), "2001:db8::1", True),
        (("127.0.0.1/32",), "::ffff:127.0.0.1", True),
        (("127.0.0.1/32",), None, False),
    ],
)
async def test_allowed_ips(gate: Gate, allowed, client, ok) -> None:
    key = limited(allowed_ips=allowed)
    if ok:
        await gate.admit(key, request(), FREE, client)
    else:
        error = await refused(gate, key, client=client)
        assert (error.status, error.code) == (403, "ip_not_allowed")


async def test_budget_refusal_gives_back_the_concurrency_slot(gate: Gate) -> None:
    priced = [ModelConfig(provider="p", price=Price(input=1000.0, output=1000.0))]
    key = limited(max_concurrent=1, budget_usd=0.000001)
    with pytest.raises(RelayError) as caught:
        await gate.admit(key, request(), priced, None)
    assert caught.value.code == "insufficient_quota"
    assert await gate.admit(key, request(), FREE, None) is not None


def worst_case(gate: Gate, request: ChatRequest, model: ModelConfig) -> int:
    """What the gate reserves for `request` on `model` alone, in nano-dollars."""
    estimator = gate.estimator
    assert model.price is not None
    output = estimator.output_tokens(request, model, None)
    return worst_case_nano(model.price, estimator.prompt_tokens(request), output)


async def test_worst_case_covers_prompt_images_and_every_choice(gate: Gate) -> None:
    model = ModelConfig(provider="p", price=Price(input=1.0, output=2.0))
    small = worst_case(gate, request(max_tokens=10), model)
    text_only, with_image = request(max_tokens=10), request(max_tokens=10)
    text_only.messages[0]["content"] = [{"type": "text", "text": "hi"}]
    with_image.messages[0]["content"] = [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    image = worst_case(gate, with_image, model) - worst_case(gate, text_only, model)
    assert image >= 1600 * NANO_PER_USD // 10**6
    assert worst_case(gate, request(max_tokens=10, n=3), model) == small + 2 * 10 * 2000
    unbounded = worst_case(gate, request(), model)
    assert unbounded >= 4096 * 2 * NANO_PER_USD // 10**6


async def test_the_worst_case_over_fallbacks_is_reserved(gate: Gate, usage) -> None:
    cheap = ModelConfig(provider="p", price=Price(input=0.0, output=0.0))
    dear = ModelConfig(provider="p", price=Price(input=100.0, output=100.0))
    key = limited(budget_usd=0.01)
    assert await gate.admit(key, request(max_tokens=50), [cheap], None) is not None
    with pytest.raises(RelayError):
        await gate.admit(key, request(max_tokens=500), [cheap, dear], None)


@pytest.fixture()
async def redis_client():
    client = await redis_or_skip()
    yield client
    await client.aclose()


async def test_redis_limits_are_shared_by_replicas(redis_client, clock: Clock) -> None:
    prefix = f"llmrelay-test-{secrets.token_hex(4)}:"
    replicas = [RedisLimitBook(redis_client, prefix=prefix, clock=clock) for _ in range(3)]
    from llmrelay.gate.limit_book import Limits

    limits = Limits(rpm=5, tpm=None, max_concurrent=None)
    verdicts = [(await replicas[i % 3].admit("k", limits, "", 0)).verdict for i in range(8)]
    assert verdicts == [0] * 5 + [1] * 3
    clock.now += 60
    assert (await replicas[1].admit("k", limits, "", 0)).verdict == 0


async def test_redis_concurrency_and_tokens(redis_client, clock: Clock) -> None:
    from llmrelay.gate.limit_book import Limits

    prefix = f"llmrelay-test-{secrets.token_hex(4)}:"
    book = RedisLimitBook(redis_client, prefix=prefix, clock=clock)
    slots = Limits(rpm=None, tpm=None, max_concurrent=1)
    first = await book.admit("k", slots, "a", 0)
    assert first.verdict == 0
    assert (await book.admit("k", slots, "b", 0)).verdict == 3
    await book.release("k", "a", first.window, 0)
    assert (await book.admit("k", slots, "c", 0)).verdict == 0
    tokens = Limits(rpm=None, tpm=70, max_concurrent=None)
    counted = await book.admit("k", tokens, "", 50)
    assert (counted.verdict, counted.tokens) == (0, 50)
    assert (await book.admit("k", tokens, "", 30)).verdict == 2  # 50 + 30 > 70
    await book.release("k", None, counted.window, -40)  # it used 10
    assert (await book.admit("k", tokens, "", 30)).tokens == 40
