"""Account members on a real relay: invited or given a password by the operator, they sign in
with an email and a password, get an HttpOnly, SameSite=Strict session cookie, and manage the
account's keys within their role, echoing the CSRF token on every change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, RunningRelay, start_relay, stop_relay, wait_until
from tests.e2e.admin_support import admin_client, ask, priced_config
from tests.e2e.members_support import (
    PASSWORD,
    add_member,
    email,
    member_client,
    new_account,
    sign_in,
    sql,
)
from tests.mocks.openai_upstream import MockOpenAI


@pytest.fixture(scope="module")
def relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    config = priced_config(mock_openai)
    config["server"]["trusted_proxies"] = ["127.0.0.1/32"]
    running = start_relay(config, tmp_path_factory.mktemp("members"), LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    yield running
    stop_relay(running)


@pytest.fixture(scope="module")
def admin(relay: RunningRelay) -> Iterator[httpx.Client]:
    with admin_client(relay) as client:
        yield client


@pytest.fixture()
def account(relay: RunningRelay) -> str:
    return new_account(relay)


def cookie_attributes(response: httpx.Response) -> set[str]:
    header = response.headers["set-cookie"]
    return {part.strip().lower() for part in header.split(";")[1:]}


def test_sign_in_sets_a_strict_http_only_session_cookie(relay, admin, account) -> None:
    member = add_member(admin, account, "owner")
    body = {"email": member["email"].upper(), "password": PASSWORD}
    response = httpx.post(relay.url + "/v1/account/session", json=body)
    assert response.status_code == 200, response.text
    assert response.cookies["llmrelay_session"]
    attributes = cookie_attributes(response)
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    session = response.json()
    assert session["member"]["email"] == member["email"]
    assert session["member"]["role"] == "owner"
    assert session["account"]["id"] == account
    assert session["account"]["name"].startswith("team-")
    assert session["csrf_token"] and session["csrf_token"] not in response.headers["set-cookie"]

    behind_tls = httpx.post(
        relay.url + "/v1/account/session", json=body, headers={"x-forwarded-proto": "https"}
    )
    assert "secure" in cookie_attributes(behind_tls)


def test_who_am_i_and_sign_out(relay, admin, account) -> None:
    member, client = member_client(relay, admin, account, "viewer")
    with closing(client):
        me = client.get("/v1/account/session").json()
        assert me["member"]["id"] == member["id"] and me["account"]["id"] == account
        assert client.delete("/v1/account/session").status_code == 200
        assert client.get("/v1/account/session").status_code == 401


def test_a_change_without_the_csrf_token_is_refused(relay, admin, account) -> None:
    _, client = member_client(relay, admin, account, "owner")
    with closing(client):
        token = client.headers.pop("x-csrf-token")
        refused = client.post("/v1/account/keys", json={"name": "csrf-" + token[:6]})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        wrong = client.post(
            "/v1/account/keys", json={"name": "csrf-2"}, headers={"x-csrf-token": "x" + token}
        )
        assert wrong.status_code == 403
        assert client.delete("/v1/account/session").status_code == 403
        assert client.get("/v1/account/keys").json()["data"] == []  # nothing was made
        made = client.post(
            "/v1/account/keys", json={"name": "csrf-" + token[:6]}, headers={"x-csrf-token": token}
        )
        assert made.status_code == 201, made.text


def test_roles_decide_who_sees_and_changes_which_keys(relay, admin, account) -> None:
    _, owner = member_client(relay, admin, account, "owner")
    _, alice = member_client(relay, admin, account, "member")
    _, bob = member_client(relay, admin, account, "member")
    _, viewer = member_client(relay, admin, account, "viewer")
    with closing(owner), closing(alice), closing(bob), closing(viewer):
        alices = alice.post("/v1/account/keys", json={"name": "alice-" + account}).json()
        bobs = bob.post("/v1/account/keys", json={"name": "bob-" + account}).json()

        refused = viewer.post("/v1/account/keys", json={"name": "viewer-" + account})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_forbidden"
        assert {k["id"] for k in viewer.get("/v1/account/keys").json()["data"]} == {
            alices["id"],
            bobs["id"],
        }
        assert viewer.post(f"/v1/account/keys/{alices['id']}/disable").status_code == 403

        assert [k["id"] for k in alice.get("/v1/account/keys").json()["data"]] == [alices["id"]]
        for path in ("/disable", "/rotate"):
            assert alice.post(f"/v1/account/keys/{bobs['id']}{path}").status_code == 404
        assert alice.patch(f"/v1/account/keys/{bobs['id']}", json={"rpm": 1}).status_code == 404

        assert len(owner.get("/v1/account/keys").json()["data"]) == 2
        disabled = owner.post(f"/v1/account/keys/{bobs['id']}/disable")
        assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
        assert owner.post(f"/v1/account/keys/{bobs['id']}/enable").json()["status"] == "active"


def test_a_member_of_one_account_reads_nothing_of_another(relay, admin, account) -> None:
    other = new_account(relay)
    _, theirs = member_client(relay, admin, other, "owner")
    _, ours = member_client(relay, admin, account, "owner")
    operators = admin.post("/admin/keys", json={"name": "operator-" + account}).json()
    with closing(theirs), closing(ours):
        their_key = theirs.post("/v1/account/keys", json={"name": "theirs-" + other}).json()
        ask(relay, their_key["key"])
        assert ours.get("/v1/account/keys").json()["data"] == []
        for key_id in (their_key["id"], operators["id"]):
            assert ours.post(f"/v1/account/keys/{key_id}/rotate").status_code == 404
        usage = ours.get("/v1/account/usage", params={"key_id": their_key["id"]}).json()
        assert usage["data"][0]["requests"] == 0


def test_limits_can_only_narrow(relay, admin) -> None:
    account = new_account(relay, rpm=100, budget_usd=5.0)
    _, client = member_client(relay, admin, account, "member")
    with closing(client):
        too_high = client.post("/v1/account/keys", json={"name": "n-" + account, "rpm": 101})
        assert too_high.status_code == 403
        assert too_high.json()["error"]["param"] == "rpm"
        body = {"name": "n-" + account, "rpm": 50, "budget_usd": 2.0}
        key = client.post("/v1/account/keys", json=body).json()
        one = f"/v1/account/keys/{key['id']}"
        for wider in ({"rpm": 60}, {"rpm": None}, {"budget_usd": 3.0}, {"budget_period": "daily"}):
            response = client.patch(one, json=wider)
            assert response.status_code == 403, wider
            assert response.json()["error"]["code"] == "cannot_widen"
        narrowed = client.patch(one, json={"rpm": 10, "budget_usd": 1.5, "tpm": 1000})
        assert narrowed.status_code == 200, narrowed.text
        assert (narrowed.json()["rpm"], narrowed.json()["budget_usd"]) == (10, 1.5)
        assert narrowed.json()["tpm"] == 1000


def test_an_invitation_link_works_once_and_expires(relay, admin, account) -> None:
    invited = add_member(admin, account, "member", password=None)
    assert invited["status"] == "invited"
    token = invited["invite_token"]
    assert invited["invite_url"] == f"{relay.url}/console/#/invite/{token}"
    accept = {"token": token, "password": PASSWORD}
    with httpx.Client(base_url=relay.url) as browser:
        accepted = browser.post("/v1/account/invite", json=accept)
        assert accepted.status_code == 200, accepted.text
        assert "httponly" in cookie_attributes(accepted)
        assert browser.get("/v1/account/session").json()["member"]["status"] == "active"
    again = httpx.post(relay.url + "/v1/account/invite", json=accept)
    assert again.status_code == 400 and again.json()["error"]["code"] == "invite_invalid"
    sign_in(relay, invited["email"]).close()

    late = add_member(admin, account, "viewer", password=None)
    sql(relay, "UPDATE account_members SET invite_expires_at = 1 WHERE id = :id", id=late["id"])
    expired = httpx.post(
        relay.url + "/v1/account/invite", json={"token": late["invite_token"], "password": PASSWORD}
    )
    assert expired.status_code == 400


def test_wrong_password_and_unknown_email_answer_alike(relay, admin, account) -> None:
    member = add_member(admin, account)
    answers = [
        httpx.post(relay.url + "/v1/account/session", json={"email": who, "password": "nope-nope"})
        for who in (member["email"], email())
    ]
    assert [a.status_code for a in answers] == [401, 401]
    form = httpx.post(  # what a form on another site could send: not JSON's media type
        relay.url + "/v1/account/session",
        content=f'{{"email": "{member["email"]}", "password": "{PASSWORD}"}}',
        headers={"content-type": "text/plain"},
    )
    assert form.status_code == 415 and "set-cookie" not in form.headers
    assert answers[0].json() == answers[1].json()
    assert "set-cookie" not in answers[0].headers


def test_the_sixth_failed_sign_in_is_refused_with_retry_after(relay, admin, account) -> None:
    member = add_member(admin, account)
    wrong = {"email": member["email"], "password": "wrong password"}
    statuses = [
        httpx.post(relay.url + "/v1/account/session", json=wrong).status_code for _ in range(5)
    ]
    assert statuses == [401] * 5
    refused = httpx.post(relay.url + "/v1/account/session", json={**wrong, "password": PASSWORD})
    assert refused.status_code == 429  # even the right password, until the window passes
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["error"]["code"] == "too_many_sign_ins"


def test_an_expired_session_and_a_removed_member_are_refused(relay, admin, account) -> None:
    lapsing, expiring = member_client(relay, admin, account, "owner")
    removed, client = member_client(relay, admin, account, "owner")
    with closing(expiring), closing(client):
        assert expiring.get("/v1/account/keys").status_code == 200
        sql(
            relay,
            "UPDATE member_sessions SET expires_at = 1 WHERE member_id = :id",
            id=lapsing["id"],
        )
        assert expiring.get("/v1/account/keys").status_code == 401

        assert client.get("/v1/account/keys").status_code == 200
        gone = admin.delete(f"/admin/accounts/{account}/members/{removed['id']}")
        assert gone.status_code == 200 and gone.json()["deleted"] is True
        assert client.get("/v1/account/keys").status_code == 401
        assert client.post("/v1/account/keys", json={"name": "late"}).status_code == 401


def test_a_member_key_serves_chat_rotates_and_shows_in_usage(relay, admin, account) -> None:
    _, client = member_client(relay, admin, account, "member")
    _, viewer = member_client(relay, admin, account, "viewer")
    with closing(client), closing(viewer):
        key = client.post("/v1/account/keys", json={"name": "app-" + account}).json()
        assert key["key"].startswith("sk-")
        assert "key" not in client.get("/v1/account/keys").json()["data"][0]
        ask(relay, key["key"])

        rotated = client.post(f"/v1/account/keys/{key['id']}/rotate")
        assert rotated.status_code == 200
        old = openai.OpenAI(base_url=relay.base_url, api_key=key["key"], max_retries=0)
        with old, pytest.raises(openai.AuthenticationError):
            old.chat.completions.create(
                model="priced", messages=[{"role": "user", "content": "hi"}]
            )
        ask(relay, rotated.json()["key"])

        def counted() -> dict | None:
            rows = viewer.get("/v1/account/usage", params={"group_by": "key,model"}).json()["data"]
            return rows[0] if rows and rows[0]["requests"] >= 2 else None

        row = wait_until(counted, 30)
        assert (row["key_id"], row["model"]) == (key["id"], "priced")
        assert row["cost_usd"] > 0


def test_admin_member_routes(relay, admin, account) -> None:
    assert (
        admin.post("/admin/accounts/acct_nope/members", json={"email": email()}).status_code == 404
    )
    member = add_member(admin, account, "viewer")
    duplicate = admin.post(
        f"/admin/accounts/{account}/members", json={"email": member["email"], "role": "owner"}
    )
    assert duplicate.status_code == 409
    short = admin.post(
        f"/admin/accounts/{account}/members", json={"email": email(), "password": "x"}
    )
    assert short.status_code == 400 and short.json()["error"]["param"] == "password"
    one = f"/admin/accounts/{account}/members/{member['id']}"
    assert admin.patch(one, json={"role": "owner"}).json()["role"] == "owner"
    assert admin.patch(one, json={"role": "boss"}).status_code == 400
    listed = admin.get(f"/admin/accounts/{account}/members").json()["data"]
    assert [m["id"] for m in listed] == [member["id"]]
    assert all("password" not in str(m) for m in listed)
    key = admin.post("/admin/keys", json={"name": "outsider-" + account}).json()["key"]
    refused = httpx.get(
        relay.url + f"/admin/accounts/{account}/members", headers={"authorization": f"Bearer {key}"}
    )
    assert refused.status_code == 403
    assert admin.delete(f"/admin/accounts/{account}/members/mem_nope").status_code == 404
