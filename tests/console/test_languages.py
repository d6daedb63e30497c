"""Every page of the console, and the catalogue, in English and in Chinese, on a desktop and a
phone: nothing reaches past the viewport's sides, and no text on a Chinese page is a string of
the English table. The browser's language picks the page's; the switch changes it and is
remembered. Screenshots in tests/output/languages/ (`<lang>-<device>-<page>.png`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import (
    ADMIN_KEY,
    OUTPUT,
    RunningRelay,
    admin_made_key,
    launch_relay,
    stop_relay,
    wait_ready,
    wait_until,
)
from tests.console.pages import DESKTOP, PHONE, open_page, overflowing, table, untranslated
from tests.console.test_catalogue import catalogue_config
from tests.console.test_console import browser  # noqa: F401 (the fixture)
from tests.mocks.openai_upstream import MockOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHOTS = OUTPUT / "languages"
DEVICES = {"desktop": DESKTOP, "phone": PHONE}
ADMIN_PAGES = ["overview", "keys", "models", "usage", "playground"]
CUSTOMER_PAGES = ["overview", "models", "usage", "playground"]


@pytest.fixture(scope="module")
def relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    relay = launch_relay(
        tmp_path_factory.mktemp("languages"),
        catalogue_config(mock_openai),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    try:
        yield wait_ready(relay)
    finally:
        stop_relay(relay)


@pytest.fixture(scope="module")
def customer_key(relay: RunningRelay) -> str:
    """A customer with a budget, and some traffic so that charts and the log have rows."""
    key = admin_made_key(relay, name="acme-web", budget_usd=5, budget_period="monthly", rpm=60)
    admin_made_key(relay, name="batch-jobs", models=["gpt-5"], max_concurrent=4)
    with httpx.Client(base_url=relay.url, timeout=30) as http:
        for model in ("gpt-5", "claude-sonnet-4-6", "thinker", "broken"):
            http.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={"model": model, "messages": [{"role": "user", "content": "Hello there"}]},
            )
        wait_until(
            lambda: (
                len(
                    http.get(
                        "/admin/requests", headers={"authorization": f"Bearer {ADMIN_KEY}"}
                    ).json()["data"]
                )
                >= 4
            ),
            timeout=30,
        )
    SHOTS.mkdir(parents=True, exist_ok=True)
    return key


def check(page: Page, language: str, device: str, name: str) -> None:
    """Settled, photographed, within the viewport, and (in Chinese) translated."""
    page.locator(".loading").first.wait_for(state="detached")
    page.wait_for_timeout(200)
    page.screenshot(path=str(SHOTS / f"{language}-{device}-{name}.png"), full_page=True)
    assert not overflowing(page), (name, overflowing(page))
    if language == "zh":
        assert not untranslated(page), (name, untranslated(page))
    assert not page.js_errors, (name, page.js_errors)  # type: ignore[attr-defined]


def sign_in(page: Page, relay: RunningRelay, key: str, language: str) -> None:
    strings = table(language)
    page.goto(relay.url + "/console")
    page.get_by_label(strings["signin.key_label"]).fill(key)
    page.get_by_role("button", name=strings["signin.title"]).click()
    page.locator(".shell").wait_for()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_page_in_both_languages(
    browser: Browser,  # noqa: F811
    relay: RunningRelay,
    customer_key: str,
    language: str,
    device: str,
) -> None:
    strings = table(language)
    page = open_page(browser, DEVICES[device], language)
    page.goto(relay.url + "/models")
    check(page, language, device, "catalogue")
    page.goto(relay.url + "/console")
    assert page.evaluate("document.documentElement.lang") == language
    check(page, language, device, "sign-in")

    sign_in(page, relay, ADMIN_KEY, language)
    for route in ADMIN_PAGES:
        page.goto(f"{relay.url}/console#/{route}")
        page.get_by_role("heading", level=1).wait_for()
        check(page, language, device, f"admin-{route}")
    page.goto(f"{relay.url}/console#/keys")
    page.get_by_role("button", name=strings["keys.create"]).first.click()
    page.get_by_role("dialog").wait_for()
    check(page, language, device, "admin-keys-create")
    page.keyboard.press("Escape")
    if device == "phone":
        page.get_by_role("button", name=strings["shell.open_menu"]).click()
        check(page, language, device, "admin-menu")
        page.keyboard.press("Escape")

    page.evaluate("sessionStorage.clear()")
    sign_in(page, relay, customer_key, language)
    for route in CUSTOMER_PAGES:
        page.goto(f"{relay.url}/console#/{route}")
        page.get_by_role("heading", level=1).wait_for()
        check(page, language, device, f"customer-{route}")
    page.context.close()


def test_the_switch_changes_the_language_and_is_remembered(
    browser: Browser,  # noqa: F811
    relay: RunningRelay,
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, DESKTOP, "en")
    sign_in(page, relay, ADMIN_KEY, "en")
    page.goto(f"{relay.url}/console#/usage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage")
    page.get_by_role("group", name="Language").get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("用量")  # still signed in, same page
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies["llmrelay_lang"] == "zh"
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("用量")
    page.goto(relay.url + "/models")  # the catalogue reads the same cookie
    expect(page.get_by_role("heading", level=1)).to_have_text("模型一览")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Models")
    page.goto(f"{relay.url}/console#/usage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage")
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()


def test_both_tables_hold_the_same_strings() -> None:
    english, chinese = table("en"), table("zh")
    assert english.keys() == chinese.keys()
    placeholders = re.compile(r"\{\w+\}")
    for key, text in english.items():
        assert sorted(placeholders.findall(text)) == sorted(placeholders.findall(chinese[key])), key
        if re.search(r"[A-Za-z]{2,}", placeholders.sub("", text)):
            assert chinese[key] != text, f"{key} is not translated"
