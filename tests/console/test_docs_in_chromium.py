"""The docs site in Chromium, in both languages, on a desktop and a phone: every page fits the
viewport, a Chinese reader's navigation is all Chinese, and on a phone the page comes before
the list of pages. Screenshots go to tests/output/docs/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from llmrelay.docs_site.language import STRINGS
from tests.conftest import RunningRelay, launch_relay, stop_relay, wait_ready
from tests.console.pages import DESKTOP, PHONE, open_page, overflowing
from tests.console.test_console import browser  # noqa: F401 (the fixture)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SHOTS = Path(__file__).parents[1] / "output" / "docs"
DEVICES = {"desktop": DESKTOP, "phone": PHONE}
PAGES = ["", "quickstart", "chat", "errors", "configuration", "deploy"]


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    relay = launch_relay(tmp_path_factory.mktemp("docs"), None)
    try:
        yield wait_ready(relay)
    finally:
        stop_relay(relay)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_docs_pages_fit_and_speak_the_readers_language(
    browser: Browser,  # noqa: F811
    relay: RunningRelay,
    language: str,
    device: str,
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_page(browser, DEVICES[device], language)
    english_nav = {STRINGS["en"][name] for name in ("home", "menu", "skip", "markdown")}
    for name in PAGES:
        page.goto(f"{relay.url}/docs/{name}")
        page.screenshot(path=str(SHOTS / f"{language}-{device}-{name or 'index'}.png"))
        assert not overflowing(page), (name, overflowing(page))
        nav = page.locator("nav").inner_text()
        if language == "zh":
            assert STRINGS["zh"]["home"] in nav and not english_nav & set(nav.splitlines())
        else:
            assert STRINGS["en"]["home"] in nav
        main, menu = page.locator("main").bounding_box(), page.locator("nav").bounding_box()
        assert main and menu
        if device == "phone":
            assert main["y"] < menu["y"], name  # the page first, then the list of pages
        else:
            assert menu["x"] < main["x"], name  # the list of pages beside the page
    assert not page.js_errors  # type: ignore[attr-defined]
