"""Ways a key could spend past its budget (each found in review, each must stay fixed): the
relay reserving less than the upstream may bill, or settling less than the upstream billed."""

from __future__ import annotations

import asyncio
import base64
import os

import httpx
import pytest

from tests.conftest import RunningRelay, wait_until
from tests.e2e.gate_edges.support import (
    PRICE,
    BillingOpenAI,
    admin,
    chat,
    ledger_spend,
    new_key,
    race,
)


def test_requests_without_max_tokens_cannot_spend_past_the_budget(billing_relay: RunningRelay):
    """A request without max_tokens reserves `default_max_tokens` (4096) output tokens, but the
    relay forwards no limit to an OpenAI-compatible upstream (nor to Gemini), so the model writes
    as long as it likes. $9 covers two worst cases; each answer really costs $20."""
    key = new_key(billing_relay, budget_usd=9.0)
    statuses = asyncio.run(race(billing_relay, key["key"], 6, model="long"))
    served = statuses.count(200)
    assert served >= 1, statuses
    spend = ledger_spend(billing_relay, key["id"], len(statuses))
    assert spend <= 9.0, f"{served} requests served; recorded spend ${spend} on a $9 budget"


@pytest.mark.parametrize(
    ("extra", "thinking"),
    [
        ({"reasoning_effort": "high"}, 4096),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}}, 2000),
    ],
    ids=["reasoning_effort", "thinking_budget"],
)
def test_anthropic_thinking_budget_is_part_of_the_worst_case(
    billing_relay: RunningRelay, extra: dict, thinking: int
):
    """With thinking on, the Anthropic translation raises max_tokens to budget + max_tokens,
    and the mock uses all of it. The budget covers one such answer and a half: a reservation
    of only the client's max_tokens (50) would let all four racing requests through."""
    one_answer = (thinking + 50 + 10) * PRICE["output"] / 1e6
    key = new_key(billing_relay, budget_usd=round(one_answer * 1.5, 6))
    statuses = asyncio.run(
        race(billing_relay, key["key"], 4, model="claude", max_tokens=50, **extra)
    )
    assert statuses.count(200) == 1, statuses
    spend = ledger_spend(billing_relay, key["id"], len(statuses))
    assert one_answer * 0.9 <= spend <= one_answer * 1.5, spend


@pytest.mark.parametrize("part", ["file", "input_audio"])
def test_attached_files_and_audio_count_in_the_worst_case(billing_relay: RunningRelay, part: str):
    """The local prompt count reads only text parts: a PDF or an audio clip reserves nothing,
    while the upstream bills every page or second of it."""
    data = base64.b64encode(os.urandom(90_000)).decode()
    if part == "file":
        attached = {
            "type": "file",
            "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64," + data},
        }
    else:
        attached = {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "summarise"}, attached]}]
    # The upstream bills about 30,000 prompt tokens ($30): one request fits $45, two do not.
    key = new_key(billing_relay, budget_usd=45.0)
    body = {"model": "doc", "max_tokens": 5, "messages": messages}
    statuses = asyncio.run(race(billing_relay, key["key"], 3, **body))
    assert statuses.count(200) == 1, statuses
    spend = ledger_spend(billing_relay, key["id"], len(statuses))
    assert 25.0 <= spend <= 45.0, f"recorded spend ${spend} on a $45 budget"


def test_a_client_that_leaves_before_the_answer_still_pays_for_its_prompt(
    billing_relay: RunningRelay, billing_openai: BillingOpenAI
):
    """A non-streamed request whose client hangs up before the answer settles to $0: the
    upstream got (and bills) a 2,000-token prompt, but nothing is charged, so a client that
    always disconnects just before the end uses the upstream for free, budget or not."""
    key = new_key(billing_relay, budget_usd=10.0)
    prompt = "hi " * 2000
    before = len(billing_openai.received)
    with pytest.raises(httpx.TimeoutException):
        chat(
            billing_relay,
            key["key"],
            timeout=0.8,
            model="slow",
            max_tokens=100,
            messages=[{"role": "user", "content": prompt}],
        )
    wait_until(lambda: len(billing_openai.received) > before)
    assert billing_openai.received[-1]["messages"][0]["content"] == prompt  # the upstream has it
    spend = ledger_spend(billing_relay, key["id"], 1)
    assert spend > 0, "the upstream processed a 2,000-token prompt; the key was charged $0"


def test_spend_made_while_the_budget_was_lifted_still_counts(billing_relay: RunningRelay):
    """The in-process budget account is seeded from the ledger once and then only follows
    requests that reserved. Lift a key's budget, spend, restore it: the account never saw
    that spend, so the key object under-reports it and the key spends past its budget."""
    key = new_key(billing_relay, budget_usd=3.0)
    secret, key_id = key["key"], key["id"]
    assert chat(billing_relay, secret, model="long", max_tokens=1000).status_code == 200  # $1.01
    with admin(billing_relay) as client:
        assert client.patch(f"/admin/keys/{key_id}", json={"budget_usd": None}).is_success
        for _ in range(3):  # $3.03 more, with no budget
            assert chat(billing_relay, secret, model="long", max_tokens=1000).status_code == 200
        ledger_spend(billing_relay, key_id, 4)  # all four are in the ledger
        restored = client.patch(f"/admin/keys/{key_id}", json={"budget_usd": 3.0}).json()
    extra = chat(billing_relay, secret, model="long", max_tokens=1000)
    assert restored["spend_usd"] == pytest.approx(4.04), (
        f"spend_usd {restored['spend_usd']} after $4.04 was spent; a 5th request got "
        f"{extra.status_code}"
    )
    assert extra.status_code == 429, "a key that spent $4.04 of a $3 total budget was served"


def test_a_negative_upstream_usage_does_not_refill_the_budget(billing_relay: RunningRelay):
    """Usage from the upstream is trusted as is: negative token counts make a negative cost,
    and settling it adds money to the key's budget."""
    key = new_key(billing_relay, budget_usd=1.0)
    chat(billing_relay, key["key"], model="negative-usage", max_tokens=10)
    with admin(billing_relay) as client:
        shown = client.get(f"/admin/keys/{key['id']}").json()
    assert shown["spend_usd"] >= 0, f"spend_usd {shown['spend_usd']}"
    assert shown["budget_remaining_usd"] <= 1.0, f"remaining {shown['budget_remaining_usd']}"
