"""The model catalogue page, `/models`, in Chromium against a real relay (mock upstreams and the
embedded embedding model): every configured model with its capabilities, context, prices and
live health; a copy button whose request works as copied; English or Chinese; and, with
`catalogue.public: false`, nothing for strangers. Screenshots in tests/output/catalogue/."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import (
    ADMIN_KEY,
    OUTPUT,
    RunningRelay,
    admin_made_key,
    launch_relay,
    relay_config,
    stop_relay,
    wait_ready,
    wait_until,
)
from tests.console.pages import DESKTOP, PHONE, open_page, overflowing, table
from tests.console.test_console import browser  # noqa: F401 (the fixture)
from tests.mocks.openai_upstream import MockOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHOTS = OUTPUT / "catalogue"
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
EMBEDDER = "all-minilm-l6-v2"
KEPT = ("gpt-5", "claude-sonnet-4-6", "thinker", "tools-model", "broken")


def catalogue_config(mock: MockOpenAI, *, public: bool = True) -> dict[str, Any]:
    config = relay_config(mock)
    models = {name: config["models"][name] for name in KEPT}
    models["gpt-5"].update(
        price={"input": 1.25, "output": 10.0, "cached_input": 0.125},
        aliases=["gpt-5-latest"],
        vision=True,
        context_length=400_000,
        description="The flagship model, behind the mock upstream.",
    )
    models["claude-sonnet-4-6"].update(
        price={"input": 3.0, "output": 15.0, "cached_input": 0.3}, context_length=200_000
    )
    models["thinker"]["price"] = {"input": 0.5, "output": 2.0}
    models["broken"]["price"] = {"input": 0.1, "output": 0.2}
    models[EMBEDDER] = {"provider": "embedder"}
    config["providers"]["embedder"] = {"type": "local-embeddings"}
    config["models"] = models
    config["catalogue"] = {"public": public}
    return config


@pytest.fixture(scope="module")
def catalogue_relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    relay = launch_relay(
        tmp_path_factory.mktemp("catalogue"),
        catalogue_config(mock_openai),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    try:
        wait_ready(relay)
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield relay
    finally:
        stop_relay(relay)


@pytest.fixture(scope="module")
def cooled(catalogue_relay: RunningRelay) -> None:
    """`broken` fails until its only deployment's breaker opens (cooling down)."""
    with httpx.Client(base_url=catalogue_relay.url, headers=ADMIN, timeout=30) as http:

        def cooling() -> bool:
            http.post(
                "/v1/chat/completions",
                json={"model": "broken", "messages": [{"role": "user", "content": "hi"}]},
            )
            models = http.get("/admin/models").json()["data"]
            broken = next(m for m in models if m["id"] == "broken")
            return broken["health"][0]["state"] == "cooldown"

        wait_until(cooling, timeout=30, interval=0.2)


def card(page: Page, model: str) -> Any:
    return page.locator(f'article.model[data-model="{model}"]')


def test_every_model_with_its_capabilities_context_prices_and_health(
    browser: Browser,  # noqa: F811
    catalogue_relay: RunningRelay,
    cooled: None,
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, DESKTOP)
    response = page.goto(catalogue_relay.url + "/models")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Models")
    listed = httpx.get(catalogue_relay.url + "/admin/models", headers=ADMIN).json()["data"]
    assert {m["id"] for m in listed} == {*KEPT, EMBEDDER}
    expect(page.locator("article.model")).to_have_count(len(listed))
    expect(page.locator(".cat-count")).to_have_text(f"{len(listed)} models")

    gpt = card(page, "gpt-5")
    expect(gpt.get_by_role("heading")).to_have_text("gpt-5")
    expect(gpt.locator(".aliases")).to_contain_text("gpt-5-latest")
    expect(gpt).to_contain_text("The flagship model")
    expect(gpt.locator('[data-fact="context"] dd')).to_have_text("400,000 tokens")
    expect(gpt.locator('[data-fact="input"] dd')).to_have_text("$1.25")
    expect(gpt.locator('[data-fact="output"] dd')).to_have_text("$10.00")
    expect(gpt.locator('[data-fact="cached_input"] dd')).to_have_text("$0.125")
    expect(gpt.locator(".cap.on")).to_have_text(["✓Vision: supported", "✓Tools: supported"])
    expect(gpt.locator(".cap.off")).to_have_text(["–Reasoning: not supported"])
    expect(gpt.locator(".health")).to_have_text("Healthy")

    thinker = card(page, "thinker")
    expect(thinker.locator('.cap[data-cap="reasoning"]')).to_have_class(re.compile(r"\bon\b"))
    expect(thinker.locator('[data-fact="cached_input"] dd')).to_have_text("$0.50")  # as input
    expect(thinker.locator('[data-fact="context"] dd')).to_have_text("not stated")
    # No price set: its requests cost nothing, and the page says so.
    expect(card(page, "tools-model").locator('[data-fact="input"] dd')).to_have_text("no charge")
    expect(card(page, "broken").locator(".health")).to_have_text("Cooling down")
    embedder = card(page, EMBEDDER)
    expect(embedder.locator(".caps")).to_have_text("Embeddings")
    expect(embedder.locator('[data-fact="context"] dd')).to_have_text("256 tokens")
    expect(embedder.locator("pre")).to_contain_text("/v1/embeddings")
    page.screenshot(path=str(SHOTS / "en-desktop.png"), full_page=True)

    # The filter narrows the cards (an alias finds its model).
    page.get_by_role("searchbox").fill("latest")
    expect(page.locator("article.model:visible")).to_have_count(1)
    expect(page.locator(".cat-count")).to_have_text("1 model")
    page.get_by_role("searchbox").fill("nothing-like-this")
    expect(page.get_by_text("No models match the filter.")).to_be_visible()

    origin = catalogue_relay.url + "/"
    assert all(url.startswith(origin) for url in page.loaded), page.loaded  # type: ignore[attr-defined]
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_copied_request_works_against_the_relay(
    browser: Browser,  # noqa: F811
    catalogue_relay: RunningRelay,
    language: str,
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, DESKTOP, language)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(catalogue_relay.url + "/models")
    key = admin_made_key(catalogue_relay)
    for model, check in (("gpt-5", "choices"), (EMBEDDER, "data")):
        example = card(page, model).locator(".example")
        example.get_by_role("button").click()
        expect(example.get_by_role("button")).to_have_text(table(language)["common.copied"])
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == example.locator("pre").inner_text()
        assert catalogue_relay.url in copied and "$LLMRELAY_KEY" in copied
        done = subprocess.run(
            ["bash", "-c", copied + " --silent --show-error --fail-with-body"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LLMRELAY_KEY": key},
        )
        assert done.returncode == 0, (copied, done.stdout, done.stderr)
        answer = httpx.Response(200, content=done.stdout).json()
        assert answer[check], answer
        if model == "gpt-5":
            assert answer["model"] == "gpt-5"
            prompt = "你好,请介绍一下你自己" if language == "zh" else "Hello, please introduce"
            assert prompt in copied
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()


def test_the_language_follows_accept_language_until_switched(
    catalogue_relay: RunningRelay,
) -> None:
    chinese = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}
    with httpx.Client(base_url=catalogue_relay.url) as http:
        page = http.get("/models", headers=chinese)
        assert '<html lang="zh">' in page.text and "<h1>模型一览</h1>" in page.text
        assert "no-store" in page.headers["cache-control"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert (
            '<html lang="en">'
            in http.get("/models", headers={"accept-language": "fr, en;q=0.5"}).text
        )
        assert (
            '<html lang="zh">'
            in http.get("/models", headers={"accept-language": "en;q=0.2, zh-TW"}).text
        )
        switched = http.get("/models?lang=en", headers=chinese)
        assert '<html lang="en">' in switched.text
        assert re.search(r"llmrelay_lang=en;.*Path=/", switched.headers["set-cookie"], re.I)
        assert '<html lang="en">' in http.get("/models", headers=chinese).text  # the cookie
        console = http.get("/console", headers=chinese)
        assert '<html lang="en">' in console.text  # the console reads the same cookie
        http.cookies.clear()
        console = http.get("/console", headers=chinese)
        assert '<html lang="zh">' in console.text and "控制台" in console.text
        assert "Accept-Language" in console.headers["vary"]


def test_context_length_is_listed_by_the_apis_too(catalogue_relay: RunningRelay) -> None:
    with httpx.Client(base_url=catalogue_relay.url, headers=ADMIN) as http:
        cards = {m["id"]: m for m in http.get("/v1/models").json()["data"]}
        admin = {m["id"]: m for m in http.get("/admin/models").json()["data"]}
    for listing in (cards, admin):
        assert listing["gpt-5"]["context_length"] == 400_000
        assert listing[EMBEDDER]["context_length"] == 256
        assert listing["thinker"]["context_length"] is None
    assert cards["gpt-5-latest"]["context_length"] == 400_000


@pytest.fixture(scope="module")
def private_relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    config = catalogue_config(mock_openai, public=False)
    del config["models"][EMBEDDER]
    relay = launch_relay(tmp_path_factory.mktemp("private"), config, LLMRELAY_ADMIN_KEY=ADMIN_KEY)
    try:
        yield wait_ready(relay)
    finally:
        stop_relay(relay)


def test_a_private_catalogue_shows_strangers_nothing(private_relay: RunningRelay) -> None:
    with httpx.Client(base_url=private_relay.url) as http:
        stranger = http.get("/models")
        assert stranger.status_code == 401
        assert stranger.headers["www-authenticate"] == "Bearer"
        assert "gpt-5" not in stranger.text and "claude" not in stranger.text
        assert "<form" in stranger.text
        wrong = http.get("/models", headers={"authorization": "Bearer sk-not-a-real-key"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        key = admin_made_key(private_relay, models=["gpt-5"])
        allowed = http.get("/models", headers={"authorization": f"Bearer {key}"})
        assert allowed.status_code == 200
        assert re.findall(r'data-model="([^"]+)"', allowed.text) == ["gpt-5"]


def test_a_private_catalogue_in_the_browser(
    browser: Browser,  # noqa: F811
    private_relay: RunningRelay,
) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, PHONE, "zh")
    page.goto(private_relay.url + "/models")
    expect(page.get_by_role("heading", level=1)).to_have_text("模型一览不公开")
    expect(page.locator("article.model")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "zh-phone-private.png"), full_page=True)
    page.get_by_label("API 密钥").fill("sk-not-a-real-key-0123456789")
    page.get_by_role("button", name="查看模型").click()
    expect(page.get_by_role("alert")).to_contain_text("该密钥未被接受")
    expect(page.get_by_role("alert")).to_contain_text("Incorrect API key")
    page.get_by_label("API 密钥").fill(admin_made_key(private_relay, models=["gpt-5", "thinker"]))
    page.get_by_role("button", name="查看模型").click()
    expect(page.locator("article.model")).to_have_count(2)
    expect(card(page, "gpt-5").locator(".health")).to_have_text("正常")
    page.reload()  # the key is kept for this tab
    expect(page.locator("article.model")).to_have_count(2)
    assert not overflowing(page)
    page.screenshot(path=str(SHOTS / "zh-phone-private-signed-in.png"), full_page=True)
    page.context.close()

    # Signed in to the console (as the admin), the catalogue opens without asking again.
    page = open_page(browser, DESKTOP)
    page.goto(private_relay.url + "/console")
    page.get_by_label("API key or admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".shell").wait_for()
    page.goto(private_relay.url + "/models")
    expect(page.locator("article.model")).to_have_count(len(KEPT))
    assert not [e for e in page.js_errors if "401" not in e]  # type: ignore[attr-defined]
    page.context.close()
