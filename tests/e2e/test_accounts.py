"""Accounts end to end on one relay: the admin contract, a prepaid balance shared by several
keys that racing requests never overdraw, top-ups and redemption codes, the key's and the
account's limits both holding, and keys without an account as before."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.accounts_support import (
    account_key,
    account_spend,
    admin,
    chat,
    new_account,
    sqlite_url,
)
from tests.e2e.races import race
from tests.e2e.test_budgets_limits import COST, new_key, priced_config
from tests.mocks.openai_upstream import MockOpenAI


@pytest.fixture(scope="module")
def relay(mock_openai: MockOpenAI, tmp_path_factory) -> Iterator[RunningRelay]:
    running = start_relay(
        priced_config(mock_openai),
        tmp_path_factory.mktemp("accounts"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    yield running
    stop_relay(running)


def me(relay: RunningRelay, key: str) -> dict:
    response = httpx.get(relay.url + "/v1/account", headers={"authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_account_contract(relay: RunningRelay) -> None:
    team = new_account(relay, budget_usd=5.0, budget_period="monthly", rpm=100, models=["priced"])
    assert team["mode"] == "budget" and team["budget_remaining_usd"] == 5.0
    assert team["balance_usd"] is None and team["spend_usd"] == 0
    shop = new_account(relay, balance_usd=2.5)
    assert shop["mode"] == "prepaid" and shop["balance_usd"] == 2.5
    both = admin(relay, "POST", "/admin/accounts", name="x", budget_usd=1, balance_usd=1)
    assert both.status_code == 400 and both.json()["error"]["param"] == "balance_usd"
    taken = admin(relay, "POST", "/admin/accounts", name=team["name"])
    assert taken.status_code == 409
    listed = admin(relay, "GET", "/admin/accounts").json()["data"]
    assert {team["id"], shop["id"]} <= {a["id"] for a in listed}
    changed = admin(relay, "PATCH", f"/admin/accounts/{team['id']}", rpm=50).json()
    assert changed["rpm"] == 50
    topped = admin(
        relay, "POST", f"/admin/accounts/{shop['id']}/topup", amount_usd=1.5, note="wire"
    )
    assert topped.status_code == 201 and topped.json()["amount_usd"] == 1.5
    assert admin(relay, "GET", f"/admin/accounts/{shop['id']}").json()["balance_usd"] == 4.0
    history = admin(relay, "GET", f"/admin/accounts/{shop['id']}/history").json()["data"]
    assert [(c["kind"], c["amount_usd"], c["actor"]) for c in history] == [
        ("topup", 1.5, "admin"),
        ("topup", 2.5, "admin"),
    ]
    assert history[0]["note"] == "wire"
    not_prepaid = admin(relay, "POST", f"/admin/accounts/{team['id']}/topup", amount_usd=1)
    assert not_prepaid.status_code == 400 and not_prepaid.json()["error"]["code"] == "not_prepaid"
    assert admin(relay, "GET", "/admin/accounts/acct_nope").status_code == 404
    key = account_key(relay, team["id"])
    busy = admin(relay, "DELETE", f"/admin/accounts/{team['id']}")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "account_in_use"
    key_id = me_key_id(relay, key)
    assert admin(relay, "DELETE", f"/admin/keys/{key_id}").status_code == 200
    assert admin(relay, "DELETE", f"/admin/accounts/{team['id']}").json()["deleted"] is True
    assert (
        admin(
            relay,
            "GET",
            "/admin/accounts",
        ).status_code
        == 200
    )
    api_key = new_key(relay)
    assert (
        httpx.get(
            relay.url + "/admin/accounts", headers={"authorization": f"Bearer {api_key}"}
        ).status_code
        == 403
    )


def me_key_id(relay: RunningRelay, key: str) -> str:
    return httpx.get(relay.url + "/v1/key", headers={"authorization": f"Bearer {key}"}).json()["id"]


def test_a_prepaid_balance_shared_by_five_keys_is_never_overdrawn(relay: RunningRelay) -> None:
    balance = 10 * COST
    account = new_account(relay, balance_usd=balance)
    keys = [account_key(relay, account["id"]) for _ in range(5)]
    succeeded, refused = asyncio.run(race([relay.base_url], keys, 150))
    assert 1 <= succeeded <= 10
    assert set(refused) == {"insufficient_quota"} and len(refused) == 150 - succeeded
    spend = account_spend(sqlite_url(relay), account["id"], 150)
    assert spend == pytest.approx(succeeded * COST) and spend <= balance + 1e-9
    shown = me(relay, keys[0])
    assert shown["id"] == account["id"] and shown["balance_usd"] >= -1e-9
    assert shown["spend_usd"] == pytest.approx(spend)
    refusal = chat(relay, keys[1])
    if refusal != "ok":  # what is left may still fit one
        assert refusal.startswith("429 insufficient_quota") and account["name"] in refusal
    admin(relay, "POST", f"/admin/accounts/{account['id']}/topup", amount_usd=5 * COST)
    assert chat(relay, keys[2]) == "ok"  # the top-up lets requests through again at once


def test_a_code_redeemed_by_twenty_requests_at_once_credits_once(relay: RunningRelay) -> None:
    account = new_account(relay, balance_usd=0)
    key = account_key(relay, account["id"])
    assert chat(relay, key).startswith("429 insufficient_quota")
    made = admin(relay, "POST", "/admin/redemption-codes", amount_usd=1.25, count=2)
    assert made.status_code == 201
    codes = [c["code"] for c in made.json()["data"]]
    assert all(code.startswith("llmr-") for code in codes) and len(set(codes)) == 2

    async def redeem_all() -> list[int]:
        async with httpx.AsyncClient(
            base_url=relay.url, headers={"authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            answers = await asyncio.gather(
                *(client.post("/v1/account/redeem", json={"code": codes[0]}) for _ in range(20))
            )
        return [answer.status_code for answer in answers]

    statuses = asyncio.run(redeem_all())
    assert statuses.count(200) == 1 and statuses.count(400) == 19
    assert me(relay, key)["balance_usd"] == 1.25
    again = httpx.post(
        relay.url + "/v1/account/redeem",
        json={"code": codes[0]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert again.json()["error"]["code"] == "code_redeemed"
    assert chat(relay, key) == "ok"
    listed = admin(relay, "GET", "/admin/redemption-codes").json()["data"]
    states = {c["id"]: c for c in listed}
    first, second = made.json()["data"]
    assert states[first["id"]]["state"] == "redeemed" and "code" not in states[first["id"]]
    assert states[first["id"]]["account_id"] == account["id"]
    assert admin(relay, "DELETE", f"/admin/redemption-codes/{second['id']}").status_code == 200
    voided = httpx.post(
        relay.url + "/v1/account/redeem",
        json={"code": codes[1]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert voided.status_code == 400 and voided.json()["error"]["code"] == "code_invalid"
    history = admin(relay, "GET", f"/admin/accounts/{account['id']}/history").json()["data"]
    assert history[0]["kind"] == "redemption" and history[0]["actor"].startswith("key:")


def test_an_expired_code_is_refused(relay: RunningRelay) -> None:
    account = new_account(relay, balance_usd=0)
    key = account_key(relay, account["id"])
    soon = time.time() + 1.5
    code = admin(relay, "POST", "/admin/redemption-codes", amount_usd=1, expires_at=soon)
    secret = code.json()["data"][0]["code"]
    wait_until(lambda: time.time() > soon or None, 5)
    refused = httpx.post(
        relay.url + "/v1/account/redeem",
        json={"code": secret},
        headers={"authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "code_expired"


def test_the_key_and_the_account_limits_both_hold(relay: RunningRelay) -> None:
    account = new_account(relay, rpm=3, models=["priced", "gpt-5"])
    wide = admin(relay, "POST", "/admin/keys", name="too-wide", account_id=account["id"], rpm=10)
    assert wide.status_code == 400 and wide.json()["error"]["param"] == "rpm"
    outside = admin(
        relay,
        "POST",
        "/admin/keys",
        name="outside",
        account_id=account["id"],
        models=["slow-start"],
    )
    assert outside.status_code == 400 and outside.json()["error"]["code"] == "exceeds_account"
    narrow = account_key(relay, account["id"], rpm=1)
    other = account_key(relay, account["id"])
    assert chat(relay, narrow) == "ok"
    assert "this key allows 1 per minute" in chat(relay, narrow)  # the key's narrower limit
    assert chat(relay, other) == "ok"
    refusal = chat(relay, other)
    if refusal != "ok":  # both requests fell in one window: the account's 3 are used up
        assert refusal.startswith("429 rate_limit_exceeded") and account["name"] in refusal
    else:
        assert f"account {account['name']!r} allows 3" in chat(relay, other)
    assert chat(relay, other, model="slow-start").startswith("404 model_not_found")


def test_a_disabled_account_refuses_its_keys(relay: RunningRelay) -> None:
    account = new_account(relay)
    key = account_key(relay, account["id"])
    assert chat(relay, key) == "ok"
    admin(relay, "PATCH", f"/admin/accounts/{account['id']}", disabled=True)
    assert chat(relay, key).startswith("401 account_disabled")
    admin(relay, "PATCH", f"/admin/accounts/{account['id']}", disabled=False)
    assert chat(relay, key) == "ok"


def test_a_key_without_an_account_is_unchanged(relay: RunningRelay) -> None:
    key = new_key(relay, budget_usd=1.0)
    assert chat(relay, key) == "ok"
    shown = httpx.get(relay.url + "/v1/key", headers={"authorization": f"Bearer {key}"}).json()
    assert shown["account_id"] is None and shown["spend_usd"] == pytest.approx(COST)
    none = httpx.get(relay.url + "/v1/account", headers={"authorization": f"Bearer {key}"})
    assert none.status_code == 404 and none.json()["error"]["code"] == "no_account"


def test_usage_groups_and_filters_by_account(relay: RunningRelay) -> None:
    account = new_account(relay, budget_usd=10.0)
    keys = [account_key(relay, account["id"]) for _ in range(2)]
    for key in keys:
        assert chat(relay, key) == "ok"
    account_spend(sqlite_url(relay), account["id"], 2)
    rows = admin(relay, "GET", f"/admin/usage?group_by=account&account_id={account['id']}")
    assert rows.status_code == 200, rows.text
    (row,) = rows.json()["data"]
    assert row["account_id"] == account["id"] and row["account_name"] == account["name"]
    assert row["requests"] == 2 and row["cost_usd"] == pytest.approx(2 * COST)
    shown = admin(relay, "GET", f"/admin/accounts/{account['id']}").json()
    assert shown["spend_usd"] == pytest.approx(2 * COST) and shown["keys"] == 2
    assert shown["budget_remaining_usd"] == pytest.approx(10.0 - 2 * COST)


def test_the_command_line_makes_an_account_its_keys_and_codes(relay: RunningRelay) -> None:
    made = relay.cli("accounts", "create", "cli-shop", "--balance-usd", "0", "--rpm", "10")
    assert "Created account 'cli-shop'" in made.stdout
    assert "Credited $1" in relay.cli("accounts", "topup", "cli-shop", "1", "--note", "x").stdout
    wide = relay.cli("keys", "create", "--account", "cli-shop", "--rpm", "50", check=False)
    assert wide.returncode == 2 and "can only narrow" in wide.stderr
    key = relay.cli("keys", "create", "--account", "cli-shop").stdout.strip().splitlines()[-1]
    codes = relay.cli("accounts", "codes", "create", "0.5", "--count", "2").stdout
    code = codes.strip().splitlines()[-1]
    assert code.startswith("llmr-")
    redeemed = httpx.post(
        relay.url + "/v1/account/redeem",
        json={"code": code},
        headers={"authorization": f"Bearer {key}"},
    )
    assert redeemed.status_code == 200 and redeemed.json()["account"]["balance_usd"] == 1.5
    assert chat(relay, key) == "ok"
    history = relay.cli("accounts", "history", "cli-shop").stdout
    assert "redemption\t$0.5\tkey:" in history and "topup\t$1\tadmin\tx" in history
    assert "redeemed" in relay.cli("accounts", "codes", "list").stdout
    assert "cli-shop" in relay.cli("accounts", "list").stdout


def test_the_command_line_changes_accounts_codes_and_members(relay: RunningRelay) -> None:
    relay.cli("accounts", "create", "cli-team", "--budget-usd", "5", "--budget-period", "daily")
    changed = relay.cli("accounts", "update", "cli-team", "--rpm", "20", "--budget-usd", "7")
    assert "$7 daily" in changed.stdout and "20 rpm" in changed.stdout
    key = relay.cli("keys", "create", "--account", "cli-team").stdout.strip().splitlines()[-1]
    assert relay.cli("accounts", "disable", "cli-team").returncode == 0
    assert chat(relay, key).startswith("401 account_disabled")
    relay.cli("accounts", "enable", "cli-team")
    assert chat(relay, key) == "ok"
    busy = relay.cli("accounts", "delete", "cli-team", check=False)
    assert busy.returncode == 1 and "still has 1 key" in busy.stderr

    invited = relay.cli("accounts", "members", "add", "cli-team", "ana@example.com", "--role",
                        "owner").stdout  # fmt: skip
    token = invited.strip().splitlines()[-1].removeprefix("/console/#/invite/")
    accepted = httpx.post(
        relay.url + "/v1/account/invite", json={"token": token, "password": "a long passphrase"}
    )
    assert accepted.status_code == 200, accepted.text
    listed = relay.cli("accounts", "members", "list", "cli-team").stdout
    member_id, email, role, state = listed.split("\t")[:4]
    assert (email, role, state) == ("ana@example.com", "owner", "active")
    assert "now viewer" in relay.cli("accounts", "members", "role", "cli-team", member_id,
                                     "viewer").stdout  # fmt: skip
    relay.cli("accounts", "members", "remove", "cli-team", member_id)
    assert "No members" in relay.cli("accounts", "members", "list", "cli-team").stdout

    made = relay.cli("accounts", "codes", "create", "0.25").stdout.strip().splitlines()[-1]
    [line] = [
        line
        for line in relay.cli("accounts", "codes", "list").stdout.splitlines()
        if made.startswith(line.split("\t")[1].removesuffix("..."))
    ]
    assert "Voided code" in relay.cli("accounts", "codes", "void", line.split("\t")[0]).stdout
    assert relay.cli("accounts", "codes", "void", line.split("\t")[0], check=False).returncode == 1
