"""The console for an account's members, in real Chromium against a real relay: a member the
operator invited opens the link, sets a password and is signed in; signs out and in again
with email and password; creates a key (its secret shown once, and it works), rotates it (the
old secret is refused); redeems a code and sees the balance rise; sees the key's request in
the account's usage by key; and, as an owner, invites a member (the link shown once),
changes their role and removes them. In English and in Chinese, desktop and phone: nothing
past the viewport's sides, no English on a Chinese page, no script error. Screenshots in
tests/output/members/."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import openai
import pytest

from tests.conftest import (
    ADMIN_KEY,
    OUTPUT,
    RunningRelay,
    launch_relay,
    stop_relay,
    wait_ready,
    wait_until,
)
from tests.console.pages import DESKTOP, PHONE, open_page, overflowing, table, untranslated
from tests.console.test_console import browser, console_config  # noqa: F401 (the fixture)
from tests.mocks.openai_upstream import MockOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHOTS = OUTPUT / "members"
DEVICES = {"desktop": DESKTOP, "phone": PHONE}
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    config = console_config(mock_openai)
    # A model dear enough that one answer takes a visible bite out of a $1.50 balance.
    config["models"]["dear"] = {
        "provider": "mock",
        "upstream_model": "mock-echo",
        "price": {"input": 20_000.0, "output": 20_000.0},
    }
    relay = launch_relay(
        tmp_path_factory.mktemp("member-console"), config, LLMRELAY_ADMIN_KEY=ADMIN_KEY
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield wait_ready(relay)
    finally:
        stop_relay(relay)


def admin(relay: RunningRelay, method: str, path: str, **body: object) -> dict:
    response = httpx.request(method, relay.url + path, json=body or None, headers=ADMIN)
    assert response.is_success, response.text
    return response.json()


def invited_owner(relay: RunningRelay) -> tuple[dict, dict]:
    """A prepaid account with $1.00, and an owner the operator invited to it."""
    account = admin(relay, "POST", "/admin/accounts", name="acme-" + secrets.token_hex(3),
                    balance_usd=1.0)  # fmt: skip
    email = f"ada-{secrets.token_hex(3)}@example.com"
    owner = admin(relay, "POST", f"/admin/accounts/{account['id']}/members", email=email,
                  role="owner")  # fmt: skip
    return account, owner


def used(relay: RunningRelay, account_id: str) -> bool:
    params = {"account_id": account_id}
    rows = httpx.get(relay.url + "/admin/usage", params=params, headers=ADMIN).json()["data"]
    return bool(rows) and rows[0]["requests"] >= 1


def check(page: Page, language: str, device: str, name: str) -> None:
    """Settled, photographed, within the viewport, and (in Chinese) translated."""
    page.locator(".loading").first.wait_for(state="detached")
    page.wait_for_timeout(200)
    page.screenshot(path=str(SHOTS / f"{language}-{device}-{name}.png"), full_page=True)
    assert not overflowing(page), (name, overflowing(page))
    if language == "zh":
        assert not untranslated(page), (name, untranslated(page))
    assert not page.js_errors, (name, page.js_errors)  # type: ignore[attr-defined]


def works(relay: RunningRelay, secret: str) -> int:
    return httpx.get(
        relay.url + "/v1/models", headers={"authorization": f"Bearer {secret}"}
    ).status_code


def read_secret(page: Page, strings: dict[str, str]) -> str:
    dialog = page.get_by_role("dialog")
    secret = dialog.get_by_label(strings["form.new_key_label"]).input_value()
    assert secret.startswith("sk-")
    dialog.get_by_role("button", name=strings["common.done"]).click()
    dialog.wait_for(state="detached")
    return secret


def accept_invitation(page: Page, owner: dict, strings: dict, language: str, device: str) -> None:
    page.goto(owner["invite_url"])
    page.get_by_role("heading", name=strings["invite.title"]).wait_for()
    check(page, language, device, "invite")
    page.get_by_label(strings["invite.password"]).fill(PASSWORD)
    page.get_by_label(strings["invite.again"]).fill(PASSWORD + "!")
    page.get_by_role("button", name=strings["invite.accept"]).click()
    page.get_by_text(strings["invite.mismatch"]).wait_for()
    page.get_by_label(strings["invite.again"]).fill(PASSWORD)
    page.get_by_role("button", name=strings["invite.accept"]).click()
    page.locator(".shell").wait_for()


def sign_in_by_email(page: Page, relay: RunningRelay, email: str, strings: dict) -> None:
    page.goto(relay.url + "/console")
    page.get_by_role("button", name=strings["signin.with_email"]).click()
    page.get_by_label(strings["signin.email"]).fill(email)
    page.get_by_label(strings["signin.password"]).fill("wrong password")
    page.get_by_role("button", name=strings["signin.title"]).click()
    page.get_by_role("alert").get_by_text(strings["signin.member_refused"], exact=True).wait_for()
    page.get_by_label(strings["signin.password"]).fill(PASSWORD)
    page.get_by_role("button", name=strings["signin.title"]).click()
    page.locator(".shell").wait_for()


def sign_out(page: Page, strings: dict, device: str) -> None:
    if device == "phone":
        page.get_by_role("button", name=strings["shell.open_menu"]).click()
    page.get_by_role("button", name=strings["shell.sign_out"]).click()
    page.get_by_role("heading", name=strings["signin.title"]).wait_for()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_an_invited_member_manages_keys_and_balance(
    browser: Browser,  # noqa: F811
    relay: RunningRelay,
    language: str,
    device: str,
) -> None:
    from playwright.sync_api import expect

    strings = table(language)
    account, owner = invited_owner(relay)
    page = open_page(browser, DEVICES[device], language)
    accept_invitation(page, owner, strings, language, device)
    expect(page.get_by_role("heading", level=1)).to_have_text(account["name"])
    check(page, language, device, "account")
    sign_out(page, strings, device)
    cookies = {c["name"] for c in page.context.cookies()}
    assert "llmrelay_session" not in cookies
    check(page, language, device, "sign-in-member")
    sign_in_by_email(page, relay, owner["email"], strings)
    other_tab = page.context.new_page()  # the cookie, but not this tab's storage
    other_tab.goto(relay.url + "/console")
    expect(other_tab.get_by_role("heading", level=1)).to_have_text(account["name"])
    other_tab.close()

    # A key: the secret once, working; rotated: the old one refused, the new one working.
    page.goto(f"{relay.url}/console#/keys")
    page.get_by_role("heading", level=1).wait_for()
    check(page, language, device, "keys-empty")
    page.get_by_role("button", name=strings["keys.create"]).first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(strings["keys.name"]).fill("web-" + language + "-" + device)
    dialog.get_by_label(strings["form.rpm"]).fill("30")
    check(page, language, device, "keys-create")
    dialog.get_by_role("button", name=strings["keys.create"]).click()
    first = read_secret(page, strings)
    assert works(relay, first) == 200
    assert first not in page.content()  # seen once: gone with its dialog
    check(page, language, device, "keys")
    name = "web-" + language + "-" + device
    page.get_by_role("button", name=strings["keys.rotate"].format(name=name)).click()
    page.get_by_role("dialog").get_by_role("button", name=strings["keys.rotate_confirm"]).click()
    second = read_secret(page, strings)
    assert second != first and works(relay, first) == 401 and works(relay, second) == 200

    # A code redeemed: the balance rises from $1.00 to $1.50.
    code = admin(relay, "POST", "/admin/redemption-codes", amount_usd=0.5)["data"][0]["code"]
    page.goto(f"{relay.url}/console#/account")
    balance = page.locator("[data-testid=balance] .stat-value")
    expect(balance).to_have_text(re.compile(r"\$1\.00"))
    page.get_by_label(strings["account.code"]).fill(code)
    page.get_by_role("button", name=strings["account.redeem"], exact=True).click()
    expect(balance).to_have_text(re.compile(r"\$1\.50"))
    history = admin(relay, "GET", f"/admin/accounts/{account['id']}/history")["data"]
    assert history[0]["actor"] == f"member:{owner['id']}"
    check(page, language, device, "account-redeemed")

    # The key used from the openai SDK: its spend takes the balance down, and the request
    # shows in the account's usage, by key.
    client = openai.OpenAI(base_url=relay.url + "/v1", api_key=second, max_retries=0)
    answer = client.chat.completions.create(
        model="dear", messages=[{"role": "user", "content": "Hello there"}], max_tokens=5
    )
    assert answer.choices[0].message.content and answer.usage is not None
    spent = (answer.usage.prompt_tokens + answer.usage.completion_tokens) * 0.02
    wait_until(lambda: used(relay, account["id"]), timeout=30)
    page.reload()
    expect(balance).to_have_text(re.compile(re.escape(f"{1.5 - spent:.2f}")))
    page.goto(f"{relay.url}/console#/usage?by=key")
    page.get_by_role("heading", level=1).wait_for()
    stat = page.locator(".stat-value").first
    expect(stat).to_have_text("1")
    expect(page.locator(".chart .legend")).to_contain_text(name)
    check(page, language, device, "usage")

    # An owner's members: invite (the link once), change the role, remove.
    page.goto(f"{relay.url}/console#/members")
    page.get_by_role("heading", level=1).wait_for()
    page.get_by_role("button", name=strings["members.invite"]).click()
    email = f"bo-{secrets.token_hex(3)}@example.com"
    page.get_by_role("dialog").get_by_label(strings["members.email"]).fill(email)
    check(page, language, device, "members-invite")
    page.get_by_role("dialog").get_by_role("button", name=strings["members.invite"]).click()
    link = page.get_by_role("dialog").get_by_label(strings["members.link"]).input_value()
    assert link.startswith(relay.url + "/console/#/invite/")
    check(page, language, device, "members-link")
    page.get_by_role("dialog").get_by_role("button", name=strings["common.done"]).click()
    role = page.get_by_label(strings["members.role_of"].format(email=email))
    role.select_option("viewer")
    page.get_by_text(strings["members.role_changed"].format(email=email,
                     role=strings["role.viewer"])).wait_for()  # fmt: skip
    listed = admin(relay, "GET", f"/admin/accounts/{account['id']}/members")["data"]
    assert {m["email"]: m["role"] for m in listed}[email] == "viewer"
    check(page, language, device, "members")
    page.get_by_role("button", name=strings["members.remove"].format(email=email)).click()
    page.get_by_role("dialog").get_by_role("button", name=strings["members.remove_confirm"]).click()
    expect(page.get_by_text(email, exact=True)).to_have_count(0)
    if device == "phone":
        page.get_by_role("button", name=strings["shell.open_menu"]).click()
        check(page, language, device, "menu")
    page.context.close()
