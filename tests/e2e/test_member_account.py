"""A signed-in member's account on a real relay: the same `GET /v1/account` and
`POST /v1/account/redeem` an API key of the account calls, by the session cookie, with the
CSRF token on the redemption and a role that may change things (owner or member); and an
owner managing the account's members (`/v1/account/members`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay
from tests.e2e.accounts_support import account_key, new_account
from tests.e2e.admin_support import admin_client, priced_config
from tests.e2e.members_support import PASSWORD, add_member, email, member_client, sign_in
from tests.mocks.openai_upstream import MockOpenAI


@pytest.fixture(scope="module")
def relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    running = start_relay(
        priced_config(mock_openai),
        tmp_path_factory.mktemp("member-account"),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def admin(relay: RunningRelay) -> Iterator[httpx.Client]:
    with admin_client(relay) as client:
        yield client


def codes(admin: httpx.Client, amount_usd: float, count: int = 1) -> list[str]:
    made = admin.post("/admin/redemption-codes", json={"amount_usd": amount_usd, "count": count})
    assert made.status_code == 201, made.text
    return [code["code"] for code in made.json()["data"]]


def history(admin: httpx.Client, account_id: str) -> list[dict]:
    return admin.get(f"/admin/accounts/{account_id}/history").json()["data"]


def test_a_member_sees_the_account_as_its_keys_do(relay, admin) -> None:
    account = new_account(relay, budget_usd=5.0, budget_period="monthly", rpm=50)
    key = account_key(relay, account["id"])
    _, viewer = member_client(relay, admin, account["id"], "viewer")
    with closing(viewer):
        by_session = viewer.get("/v1/account").json()
    by_key = httpx.get(relay.url + "/v1/account", headers={"authorization": f"Bearer {key}"})
    assert by_session == by_key.json()
    assert by_session["id"] == account["id"] and by_session["budget_remaining_usd"] == 5.0
    assert httpx.get(relay.url + "/v1/account").status_code == 401  # neither key nor session


def test_owners_and_members_redeem_with_the_csrf_token(relay, admin) -> None:
    account = new_account(relay, balance_usd=1.0)
    first, second, third = codes(admin, 0.5, 3)
    owner, client = member_client(relay, admin, account["id"], "owner")
    with closing(client):
        token = client.headers.pop("x-csrf-token")
        refused = client.post("/v1/account/redeem", json={"code": first})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        assert client.get("/v1/account").json()["balance_usd"] == 1.0  # nothing was credited
        redeemed = client.post(
            "/v1/account/redeem", json={"code": first}, headers={"x-csrf-token": token}
        )
        assert redeemed.status_code == 200, redeemed.text
        assert redeemed.json()["account"]["balance_usd"] == 1.5
    assert history(admin, account["id"])[0]["actor"] == f"member:{owner['id']}"

    member, client = member_client(relay, admin, account["id"], "member")
    with closing(client):
        assert client.post("/v1/account/redeem", json={"code": second}).status_code == 200
        assert client.get("/v1/account").json()["balance_usd"] == 2.0
    assert history(admin, account["id"])[0]["actor"] == f"member:{member['id']}"

    _, viewer = member_client(relay, admin, account["id"], "viewer")
    with closing(viewer):
        refused = viewer.post("/v1/account/redeem", json={"code": third})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_forbidden"
        again = viewer.post("/v1/account/redeem", json={"code": first})
        assert again.status_code == 403  # the role is checked before the code is looked at


def test_a_key_still_redeems_and_its_bearer_wins_over_a_cookie(relay, admin) -> None:
    account = new_account(relay, balance_usd=0)
    other = new_account(relay, balance_usd=0)
    key = account_key(relay, account["id"])
    code, used = codes(admin, 0.25, 2)
    _, client = member_client(relay, admin, other["id"], "owner")
    with closing(client):
        # A key sent with the call decides the account, whatever session the browser has.
        answer = client.post(
            "/v1/account/redeem", json={"code": code}, headers={"authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 200 and answer.json()["account"]["id"] == account["id"]
        assert client.get("/v1/account").json()["balance_usd"] == 0  # the member's: untouched
        assert client.post("/v1/account/redeem", json={"code": used}).status_code == 200
    kinds = history(admin, account["id"])[0]
    assert kinds["actor"].startswith("key:")


def test_a_budget_account_or_a_bad_code_is_refused_for_members(relay, admin) -> None:
    budget = new_account(relay, budget_usd=3.0, budget_period="monthly")
    _, client = member_client(relay, admin, budget["id"], "owner")
    with closing(client):
        (code,) = codes(admin, 1.0)
        refused = client.post("/v1/account/redeem", json={"code": code})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_prepaid"
        empty = client.post("/v1/account/redeem", json={})
        assert empty.status_code == 400 and empty.json()["error"]["param"] == "code"


def test_the_openapi_document_says_either_caller_will_do(relay, admin) -> None:
    paths = admin.get("/admin/openapi.json").json()["paths"]
    for method, path in (("get", "/v1/account"), ("post", "/v1/account/redeem")):
        assert paths[path][method]["security"] == [{"bearer": []}, {"session": []}]
        assert "403" in paths[path][method]["responses"]


def test_an_owner_invites_changes_a_role_and_removes_a_member(relay, admin) -> None:
    account = new_account(relay, balance_usd=0)
    owner, client = member_client(relay, admin, account["id"], "owner")
    with closing(client):
        invited = client.post("/v1/account/members", json={"email": email(), "role": "viewer"})
        assert invited.status_code == 201, invited.text
        link, token = invited.json()["invite_url"], invited.json()["invite_token"]
        assert link == f"{relay.url}/console/#/invite/{token}"
        assert invited.json()["status"] == "invited"
        listed = client.get("/v1/account/members").json()["data"]
        assert [m["id"] for m in listed] == [owner["id"], invited.json()["id"]]

        accepted = httpx.post(
            relay.url + "/v1/account/invite", json={"token": token, "password": PASSWORD}
        )
        assert accepted.status_code == 200 and accepted.json()["member"]["role"] == "viewer"
        newcomer = sign_in(relay, invited.json()["email"])
        with closing(newcomer):
            one = f"/v1/account/members/{invited.json()['id']}"
            promoted = client.patch(one, json={"role": "member"})
            assert promoted.status_code == 200 and promoted.json()["role"] == "member"
            assert newcomer.get("/v1/account/session").json()["member"]["role"] == "member"
            assert client.delete(one).json()["deleted"] is True
            assert newcomer.get("/v1/account").status_code == 401  # their session ended
        assert [m["id"] for m in client.get("/v1/account/members").json()["data"]] == [owner["id"]]


def test_only_owners_manage_members_and_only_with_the_csrf_token(relay, admin) -> None:
    account = new_account(relay, balance_usd=0)
    _, owner = member_client(relay, admin, account["id"], "owner")
    target, _ = member_client(relay, admin, account["id"], "viewer")
    one = f"/v1/account/members/{target['id']}"
    for role in ("member", "viewer"):
        _, client = member_client(relay, admin, account["id"], role)
        with closing(client):
            for answer in (
                client.get("/v1/account/members"),
                client.post("/v1/account/members", json={"email": email()}),
                client.patch(one, json={"role": "owner"}),
                client.delete(one),
            ):
                assert answer.status_code == 403, answer.text
                assert answer.json()["error"]["code"] == "role_forbidden"
    with closing(owner):
        token = owner.headers.pop("x-csrf-token")
        refused = owner.patch(one, json={"role": "owner"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        assert owner.delete(one).status_code == 403
        owner.headers["x-csrf-token"] = token
        roles = {m["id"]: m["role"] for m in owner.get("/v1/account/members").json()["data"]}
        assert roles[target["id"]] == "viewer"  # nothing changed


def test_an_owner_sets_no_password_and_reaches_no_other_account(relay, admin) -> None:
    account = new_account(relay, balance_usd=0)
    other = new_account(relay, balance_usd=0)
    owner, client = member_client(relay, admin, account["id"], "owner")
    stranger = add_member(admin, other["id"], "member")
    with closing(client):
        with_password = client.post(
            "/v1/account/members", json={"email": email(), "password": PASSWORD}
        )
        assert with_password.status_code == 400
        assert with_password.json()["error"]["param"] == "password"
        taken = client.post("/v1/account/members", json={"email": stranger["email"]})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "member_exists"
        theirs = f"/v1/account/members/{stranger['id']}"
        assert client.patch(theirs, json={"role": "owner"}).status_code == 404
        assert client.delete(theirs).status_code == 404
        mine = f"/v1/account/members/{owner['id']}"
        for answer in (client.patch(mine, json={"role": "viewer"}), client.delete(mine)):
            assert answer.status_code == 409 and answer.json()["error"]["code"] == "own_membership"
        assert client.get("/v1/account/session").json()["member"]["role"] == "owner"
    assert admin.get(f"/admin/accounts/{other['id']}/members").json()["data"][0]["role"] == "member"
