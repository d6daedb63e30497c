"""Accounts' and members' boundaries, from an adversarial review: a member cannot move a key
out of its account or onto another's money, a disabled account's members can read but not
change it, the operator's disable of a key stands, a deleted account's members go with it,
and no amount of credit can overflow what the key table sums."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.accounts_support import chat
from tests.e2e.admin_support import admin_client, priced_config
from tests.e2e.members_support import add_member, email, member_client
from tests.mocks.openai_upstream import MockOpenAI


@pytest.fixture(scope="module")
def relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = start_relay(
        priced_config(mock_openai),
        tmp_path_factory.mktemp("review14"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def admin(relay: RunningRelay) -> Iterator[httpx.Client]:
    with admin_client(relay) as client:
        yield client


def account(admin: httpx.Client, **fields) -> dict:
    body = {"name": "r14-" + secrets.token_hex(4), **fields}
    response = admin.post("/admin/accounts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def balance(admin: httpx.Client, account_id: str) -> float:
    return admin.get(f"/admin/accounts/{account_id}").json()["balance_usd"]


@pytest.mark.parametrize("target", [None, "acct_0000000000000000"])
def test_a_member_cannot_take_a_key_out_of_its_empty_prepaid_account(relay, admin, target) -> None:
    """A customer with a $0 prepaid balance: their key is refused. A `member` PATCHes the
    key's `account_id` (null, or an id of no account) and the key spends for free: no
    balance, no account limits, no account allowlist. Widening is the operator's."""
    shop = account(admin, balance_usd=0, models=["priced"], rpm=1000)
    _, client = member_client(relay, admin, shop["id"], "member")
    with closing(client):
        made = client.post("/v1/account/keys", json={"name": "mine-" + secrets.token_hex(3)})
        assert made.status_code == 201, made.text
        key = made.json()
        assert chat(relay, key["key"]).startswith("429 insufficient_quota")

        client.patch(f"/v1/account/keys/{key['id']}", json={"account_id": target})
        assert chat(relay, key["key"]).startswith("429 insufficient_quota")


def test_a_member_cannot_move_a_key_onto_another_accounts_balance(relay, admin) -> None:
    """With another account's id (shown in usage exports, support tickets, logs), a member
    of A moves their key into B and spends B's prepaid balance."""
    mine = account(admin, balance_usd=0)
    victim = account(admin, balance_usd=10)
    _, client = member_client(relay, admin, mine["id"], "member")
    with closing(client):
        key = client.post("/v1/account/keys", json={"name": "m-" + secrets.token_hex(3)}).json()
        client.patch(f"/v1/account/keys/{key['id']}", json={"account_id": victim["id"]})
    assert chat(relay, key["key"]) != "ok"
    assert balance(admin, victim["id"]) == 10


def test_a_disabled_accounts_members_can_no_longer_change_it(relay, admin) -> None:
    """The operator disables a customer's account (unpaid, abuse): its keys are refused, but
    its members still sign in, make keys, invite people and redeem codes into it."""
    shop = account(admin, balance_usd=1)
    _, owner = member_client(relay, admin, shop["id"], "owner")
    code = admin.post("/admin/redemption-codes", json={"amount_usd": 5}).json()["data"][0]["code"]
    disabled = admin.patch(f"/admin/accounts/{shop['id']}", json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    with closing(owner):
        made = owner.post("/v1/account/keys", json={"name": "after-" + secrets.token_hex(3)})
        invited = owner.post("/v1/account/members", json={"email": email(), "role": "owner"})
        redeemed = owner.post("/v1/account/redeem", json={"code": code})
        assert (made.status_code, invited.status_code, redeemed.status_code) == (
            403,
            403,
            403,
        ), (made.text, invited.text, redeemed.text)


def test_a_member_cannot_re_enable_a_key_the_operator_disabled(relay, admin) -> None:
    """The operator disables a member's key (it leaked, it was abused). The member turns it
    back on with one call: the operator's refusal has no force, and nothing records it."""
    team = account(admin)
    _, member = member_client(relay, admin, team["id"], "member")
    with closing(member):
        key = member.post("/v1/account/keys", json={"name": "l-" + secrets.token_hex(3)}).json()
        assert admin.post(f"/admin/keys/{key['id']}/disable").status_code == 200
        assert chat(relay, key["key"]).startswith("401")
        again = member.post(f"/v1/account/keys/{key['id']}/enable")
        assert again.status_code == 403, again.text
    assert chat(relay, key["key"]).startswith("401")


def test_deleting_an_account_frees_its_members_emails(relay, admin) -> None:
    """An account is deleted (no live keys); its members stay behind, invisible, and their
    emails can never be added to another account."""
    gone, other = account(admin), account(admin)
    member = add_member(admin, gone["id"], "owner")
    assert admin.delete(f"/admin/accounts/{gone['id']}").status_code == 200
    again = admin.post(f"/admin/accounts/{other['id']}/members", json={"email": member["email"]})
    assert again.status_code == 201, again.text


def test_an_accounts_credits_stay_within_what_a_sum_can_hold(relay, admin) -> None:
    """Every credit's sum is read with the key table: ten top-ups of $1e9 overflowed it and
    took every key of the relay down. A top-up or a code is now at most $1M, and an account
    holds at most $1e9 of credits; a key of no account keeps working throughout."""
    bystander = admin.post("/admin/keys", json={"name": "by-" + secrets.token_hex(3)}).json()
    whale = account(admin, balance_usd=1e9)
    huge = admin.post(f"/admin/accounts/{whale['id']}/topup", json={"amount_usd": 1e9})
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "amount_usd"
    over = admin.post(f"/admin/accounts/{whale['id']}/topup", json={"amount_usd": 1})
    assert over.status_code == 400 and "at most" in over.json()["error"]["message"]
    assert admin.post("/admin/redemption-codes", json={"amount_usd": 2e6}).status_code == 400
    assert balance(admin, whale["id"]) == 1e9
    assert chat(relay, bystander["key"]) == "ok"
