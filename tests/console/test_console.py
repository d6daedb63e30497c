"""The web console in real headless Chromium (Debian's, driven by Playwright), against a real
relay: the embedded local model and the mock OpenAI upstream behind it.

An operator signs in with the admin key, creates a key (read from the one-time dialog), edits
it; the customer signs in with that key, sees only their own pages, and gets a streamed
answer from the local model in the playground (and a reasoning model's thinking apart from
its answer); back as admin, the usage page shows that request with its model and key name.
Every page is saved as a screenshot (desktop 1280x800, phone 390x844) in tests/output/console/.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import (
    ADMIN_KEY,
    OUTPUT,
    RunningRelay,
    launch_relay,
    relay_config,
    stop_relay,
    wait_ready,
    wait_until,
)
from tests.mocks.openai_upstream import MockOpenAI
from tests.services import services_required

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("LLMRELAY_CHROMIUM", "/usr/bin/chromium"))
SHOTS = OUTPUT / "console"
LOCAL_MODEL = "smollm2-135m-instruct"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SLOW = 120_000  # ms: the local model shares two cores with the rest of the suite


def missing(what: str, why: str) -> None:
    message = f"{what} is not available ({why})"
    if services_required():
        pytest.fail(message + " and LLMRELAY_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message + "; `make test` installs both (scripts/ensure-chromium.sh)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing("Playwright for Python", f"{type(exc).__name__}: {exc}")
    if not CHROMIUM.exists():
        missing("Debian's chromium", f"{CHROMIUM} does not exist")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


def console_config(mock: MockOpenAI) -> dict[str, Any]:
    config = relay_config(mock)
    prices = {
        LOCAL_MODEL: {"input": 0.05, "output": 0.1},
        "gpt-5": {"input": 1.25, "output": 10.0, "cached_input": 0.125},
        "qwen3-max": {"input": 1.2, "output": 6.0},
        "claude-sonnet-4-6": {"input": 3.0, "output": 15.0, "cached_input": 0.3},
        "thinker": {"input": 0.5, "output": 2.0},
    }
    for name, price in prices.items():
        config["models"][name]["price"] = price
    return config


@pytest.fixture(scope="module")
def console_relay(
    mock_openai: MockOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRelay]:
    relay = launch_relay(
        tmp_path_factory.mktemp("console"),
        console_config(mock_openai),
        LLMRELAY_ADMIN_KEY=ADMIN_KEY,
    )
    try:
        yield wait_ready(relay)
    finally:
        stop_relay(relay)


@pytest.fixture(scope="module")
def seeded(console_relay: RunningRelay) -> dict[str, str]:
    """Other keys and some traffic through the API, so lists and charts have company."""
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=console_relay.url, headers=admin, timeout=60) as http:
        bodies = [
            {
                "name": "batch-jobs",
                "models": ["gpt-5", "qwen3-max"],
                "budget_usd": 50,
                "budget_period": "daily",
                "rpm": 600,
                "tpm": 2_000_000,
            },
            {
                "name": "mobile-app",
                "budget_usd": 20,
                "budget_period": "monthly",
                "max_concurrent": 8,
                "metadata": {"team": "mobile"},
            },
            {"name": "staging"},
            {"name": "old-partner"},
        ]
        made = {}
        for body in bodies:
            response = http.post("/admin/keys", json=body)
            assert response.status_code == 201, response.text
            made[body["name"]] = response.json()
        http.post(f"/admin/keys/{made['staging']['id']}/disable").raise_for_status()
        console_relay.cli("keys", "revoke", "old-partner")
        traffic = [
            ("batch-jobs", "gpt-5", 4),
            ("batch-jobs", "qwen3-max", 3),
            ("mobile-app", "claude-sonnet-4-6", 3),
            ("mobile-app", "broken", 1),
        ]
        for name, model, count in traffic:
            for i in range(count):
                http.post(
                    "/v1/chat/completions",
                    headers={"authorization": f"Bearer {made[name]['key']}"},
                    json={
                        "model": model,
                        "max_tokens": 40,
                        "messages": [
                            {"role": "user", "content": f"Summarise ticket {i} " + "word " * 30}
                        ],
                    },
                )
        # Refused before any key or model is known (they belong to no key's usage), and a
        # key's request that names no model.
        for token in ("sk-not-a-real-key", made["old-partner"]["key"]):
            refused = http.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {token}"},
                json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert refused.status_code == 401
        no_model = http.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {made['mobile-app']['key']}"},
            json={"messages": [{"role": "user", "content": "hi"}]},
        )
        assert no_model.status_code == 400
        # The ledger writer moves records into the database twice a second: wait for all
        # 14, or the first page may load before there is anything to chart.
        wait_until(
            lambda: len(http.get("/admin/requests", params={"limit": 50}).json()["data"]) >= 14,
            timeout=30,
        )
    return {name: key["key"] for name, key in made.items()}


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    page.wait_for_timeout(250)  # let charts lay out and transitions settle
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def new_page(browser: Browser, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message: Any) -> None:
        # Refused API calls (401, 403) are logged by the browser itself; anything else, such as
        # a script error or a Content-Security-Policy violation, is a bug.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


def sign_in(page: Page, relay: RunningRelay, key: str) -> None:
    page.goto(relay.url + "/console")
    page.get_by_label("API key or admin key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".shell").wait_for(state="attached")


def sign_out(page: Page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def go(page: Page, relay: RunningRelay, route: str) -> None:
    page.goto(f"{relay.url}/console#/{route}")


def test_console_is_served_with_its_assets(console_relay: RunningRelay) -> None:
    with httpx.Client(base_url=console_relay.url) as http:
        for path in ("/console", "/console/"):
            page = http.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "default-src 'self'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', page.text)
        assert len(assets) >= 3
        for path in assets:
            response = http.get(path)
            assert response.status_code == 200, path
            again = http.get(path, headers={"if-none-match": response.headers["etag"]})
            assert again.status_code == 304
        script = http.get("/console/assets/js/main.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert http.get("/console/assets/app.css").headers["content-type"].startswith("text/css")
        assert http.get("/console/assets/nope.js").status_code == 404
        assert http.get("/console/assets/../../app.py").status_code == 404


def test_a_wrong_key_is_refused_with_the_relays_message(
    browser: Browser, console_relay: RunningRelay
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, DESKTOP)
    page.goto(console_relay.url + "/console")
    shot(page, "desktop-01-sign-in")
    page.get_by_label("API key or admin key").fill("sk-not-a-real-key-0123456789abcdefghijklmnopq")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("That key was not accepted")
    expect(alert).to_contain_text(re.compile(r"key", re.I))
    expect(page.get_by_role("link", name="Overview")).to_have_count(0)
    shot(page, "desktop-02-sign-in-wrong-key")
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()


def test_admin_creates_a_key_the_customer_streams_an_answer_and_usage_shows_it(
    browser: Browser, console_relay: RunningRelay, seeded: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, DESKTOP)
    sign_in(page, console_relay, ADMIN_KEY)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".chart svg")).to_be_visible()
    shot(page, "desktop-03-admin-overview")

    # Keys: create one; its secret is shown once, in a dialog with a copy button.
    page.get_by_role("link", name="API keys", exact=True).click()
    expect(page.get_by_role("row", name=re.compile("batch-jobs"))).to_be_visible()
    page.get_by_role("button", name="Create key").first.click()
    form = page.get_by_role("dialog", name="Create an API key")
    form.get_by_label("Name", exact=True).fill("batch-jobs")
    form.get_by_role("button", name="Create key").click()
    refusal = form.get_by_role("alert")
    expect(refusal).to_contain_text("Could not create the key")
    expect(refusal).to_contain_text("batch-jobs")  # the relay's own message names the clash
    shot(page, "desktop-04-keys-create-refused", full_page=False)
    form.get_by_label("Name", exact=True).fill("acme-web")
    form.get_by_label("Every model, including ones added later").uncheck()
    form.get_by_label(LOCAL_MODEL).check()
    form.get_by_label("thinker", exact=True).check()
    form.get_by_label("Budget (USD)").fill("5")
    form.get_by_label("Budget period").select_option("monthly")
    form.get_by_label("Requests per minute").fill("60")
    form.get_by_label("Metadata (JSON)").fill('{"team": "web"}')
    shot(page, "desktop-04b-keys-create-dialog")
    form.get_by_role("button", name="Create key").click()
    secret_dialog = page.get_by_role("dialog", name="Your new API key")
    expect(secret_dialog).to_contain_text("only time the key is shown")
    expect(secret_dialog.get_by_role("button", name="Copy")).to_be_visible()
    new_key = secret_dialog.get_by_label("New API key").input_value()
    assert re.fullmatch(r"sk-[A-Za-z0-9_-]{43}", new_key), new_key
    shot(page, "desktop-05-keys-secret-once")
    secret_dialog.get_by_role("button", name="Done").click()
    row = page.get_by_role("row", name=re.compile("acme-web"))
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("60 rpm")

    # Edit its limits; a bad value is refused in the form, naming the field.
    row.get_by_role("button", name="Edit acme-web").click()
    edit = page.get_by_role("dialog", name="Edit acme-web")
    edit.get_by_label("Requests per minute").fill("0")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit).to_contain_text("Enter a whole number of 1 or more")
    edit.get_by_label("Requests per minute").fill("120")
    edit.get_by_label("Concurrent requests").fill("4")
    edit.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(row).to_contain_text("120 rpm · 4 concurrent")
    shot(page, "desktop-06-keys")

    # Models: every model with provider, capabilities, prices and health.
    page.get_by_role("link", name="Models", exact=True).click()
    local_row = page.get_by_role("row", name=re.compile(LOCAL_MODEL))
    expect(local_row).to_contain_text("local")
    expect(local_row).to_contain_text("Healthy")
    expect(local_row).to_contain_text("Text only")  # the local model refuses tools and images
    thinker_row = page.get_by_role("row", name=re.compile("^thinker "))
    expect(thinker_row.locator(".badge")).to_have_text(["Reasoning", "Tools"])
    expect(page.get_by_role("row", name=re.compile("gpt-5"))).to_contain_text("$10.00")
    shot(page, "desktop-07-models")
    sign_out(page)

    # The customer: their own pages only, and a streamed answer in the playground.
    sign_in(page, console_relay, new_key)
    expect(page.get_by_role("heading", name="Welcome, acme-web")).to_be_visible()
    expect(page.get_by_test_id("remaining")).to_have_text("$5.00")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(
        ["Overview", "Models", "Usage", "Playground", "Model catalogue", "Docs"]
    )
    expect(nav.get_by_role("link", name="Docs")).to_have_attribute("href", "/docs/")
    go(page, console_relay, "keys")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, acme-web")
    shot(page, "desktop-08-customer-overview")

    nav.get_by_role("link", name="Playground", exact=True).click()
    page.get_by_label("Model", exact=True).select_option(LOCAL_MODEL)
    page.get_by_label("System prompt").fill("You are brief.")
    page.get_by_label("Max tokens").fill("40")
    page.evaluate("""() => {
        window.__updates = 0;
        new MutationObserver(() => { window.__updates += 1; }).observe(
            document.querySelector('.messages'),
            {subtree: true, childList: true, characterData: true});
    }""")
    page.get_by_label("Message", exact=True).fill("What is the capital of France?")
    page.get_by_label("Message", exact=True).press("Enter")
    answer = page.get_by_test_id("assistant-message").last
    expect(answer.locator(".msg-text")).not_to_be_empty(timeout=SLOW)
    expect(answer.get_by_test_id("usage")).to_contain_text("completion", timeout=SLOW)
    text = answer.locator(".msg-text").inner_text()
    assert text.strip(), "the local model answered"
    assert page.evaluate("window.__updates") > 5, "the answer arrived in pieces, not at once"
    request_id = re.search(r"req_[0-9a-f]+", answer.get_by_test_id("usage").inner_text()).group(0)
    shot(page, "desktop-09-customer-playground")

    # Stop: the stream is cut and the answer so far stays.
    page.get_by_label("Max tokens").fill("400")
    page.get_by_label("Message", exact=True).fill("Write a long story about a dragon and a knight.")
    page.get_by_role("button", name="Send").click()
    story = page.get_by_test_id("assistant-message").last
    expect(story.locator(".msg-text")).not_to_be_empty(timeout=SLOW)
    page.get_by_role("button", name="Stop").click()
    expect(story).to_contain_text("Stopped.")
    expect(page.get_by_role("button", name="Send")).to_be_visible()

    # A reasoning model: the thinking is shown apart, in a collapsible block.
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Model", exact=True).select_option("thinker")
    page.get_by_label("Message", exact=True).fill("Hello!")
    page.get_by_role("button", name="Send").click()
    thought = page.get_by_test_id("assistant-message").last
    expect(thought.locator(".msg-text")).to_have_text("Hello there!")
    thinking = thought.locator("details.thinking")
    expect(thinking.locator("summary")).to_contain_text("Thought for")
    thinking.locator("summary").click()
    expect(thinking.locator(".thinking-text")).to_have_text("The user greets me; answer kindly.")
    expect(thought.get_by_test_id("usage")).to_contain_text("reasoning")
    shot(page, "desktop-10-customer-playground-thinking")

    # The same model through the Messages door: Anthropic's stream, thinking still apart.
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("API", exact=True).select_option("messages")
    page.get_by_label("Message", exact=True).fill("Hello!")
    page.get_by_role("button", name="Send").click()
    via_messages = page.get_by_test_id("assistant-message").last
    expect(via_messages.locator(".msg-text")).to_have_text("Hello there!")
    expect(via_messages.locator("details.thinking summary")).to_contain_text("Thought for")
    expect(via_messages.get_by_test_id("usage")).to_contain_text("completion")
    messages_id = re.search(r"req_[0-9a-f]+", via_messages.get_by_test_id("usage").inner_text())
    page.get_by_label("API", exact=True).select_option("chat")

    nav.get_by_role("link", name="Usage", exact=True).click()
    log = page.get_by_role("region", name="Request log")
    refresh = page.get_by_role("button", name="Refresh")
    assert messages_id is not None
    # The ledger writes in batches: refresh until the newest request (the Messages one) is in.
    for _ in range(30):
        if log.get_by_text(request_id).count() and log.get_by_text(messages_id.group(0)).count():
            break
        page.wait_for_timeout(500)
        refresh.click()
    expect(log.get_by_text(request_id)).to_be_visible()
    door_row = log.get_by_role("row", name=re.compile(messages_id.group(0)))
    expect(door_row).to_contain_text("Anthropic Messages")
    expect(page.get_by_role("button", name="By key")).to_have_count(0)
    shot(page, "desktop-11-customer-usage")
    sign_out(page)

    # Back as admin: the request is in the log under the key's name, and charts render.
    sign_in(page, console_relay, ADMIN_KEY)
    page.get_by_role("link", name="Usage", exact=True).click()
    log = page.get_by_role("region", name="Request log")
    expect(log.get_by_text(request_id)).to_be_visible()
    entry = log.get_by_role("row", name=re.compile(request_id))
    expect(entry).to_contain_text(LOCAL_MODEL)
    expect(entry).to_contain_text("acme-web")
    expect(entry).to_contain_text("127.0.0.1")  # the client's address, under the request id
    chart = page.get_by_test_id("usage-chart")
    expect(chart.locator("svg rect[fill]").first).to_be_visible()
    expect(chart.locator(".legend")).to_contain_text(LOCAL_MODEL)
    page.get_by_role("button", name="By key").click()
    expect(chart.locator(".legend")).to_contain_text("acme-web")
    expect(chart.locator(".legend")).to_contain_text("batch-jobs")
    page.get_by_role("button", name="By door").click()
    expect(chart.locator(".legend")).to_contain_text("Chat Completions")
    page.get_by_role("button", name="By key").click()
    page.get_by_role("button", name="Cost").click()
    columns = chart.locator("rect.hover-col")
    columns.last.hover()
    expect(chart.locator(".tooltip")).to_be_visible()
    expect(chart.locator(".tooltip")).to_contain_text("Total")
    shot(page, "desktop-12-admin-usage")

    page.get_by_role("button", name="24 hours").click()
    page.get_by_role("button", name="Requests", exact=True).click()
    expect(chart.locator(".legend")).to_contain_text("acme-web")
    expect(chart.locator("svg rect[fill]").first).to_be_visible()
    expect(chart.locator("rect.hover-col")).to_have_count(24)
    page.get_by_role("button", name="7 days").click()
    page.get_by_role("button", name="Cost").click()
    expect(chart.locator("rect.hover-col")).to_have_count(7)
    page.emulate_media(color_scheme="dark")
    shot(page, "desktop-13-admin-usage-dark")
    page.emulate_media(color_scheme="light")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV").click()
    exported = Path(download_info.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert any(r.get("request_id") == request_id for r in rows), exported[:500]
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()


def badge_colours(badges: Any) -> dict[str, tuple[str, str]]:
    """Each key status shown among `badges`, with its badge's background and text colour."""
    return dict(
        badges.evaluate_all(
            """(all) => all.map((b) => [b.textContent.trim(),
                [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]])"""
        )
    )


def test_overview_counts_every_key_and_colours_statuses_as_the_keys_page(
    browser: Browser, console_relay: RunningRelay, seeded: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, DESKTOP)
    sign_in(page, console_relay, ADMIN_KEY)
    keys_stat = page.locator(".stat", has_text="API keys")
    expect(keys_stat).to_contain_text("revoked")
    total = int(keys_stat.locator(".stat-value").inner_text())
    counts = {
        status: int(n)
        for n, status in re.findall(r"(\d+) (\w+)", keys_stat.locator(".stat-sub").inner_text())
    }
    with httpx.Client(base_url=console_relay.url, timeout=30) as http:
        keys = http.get("/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"}).json()
    listed = [key["status"] for key in keys["data"]]
    assert total == len(listed) == sum(counts.values())
    assert counts == {status: listed.count(status) for status in set(listed)}

    newest = page.locator("section.card", has=page.get_by_role("heading", name="Newest keys"))
    on_overview = badge_colours(newest.locator(".badge"))
    assert {"active", "disabled", "revoked"} <= set(on_overview)
    page.get_by_role("link", name="API keys", exact=True).click()
    table = page.get_by_role("table", name="API keys")
    expect(table.get_by_text("revoked", exact=True)).to_be_visible()
    on_keys_page = badge_colours(table.locator(".badge"))
    assert on_overview == {status: on_keys_page[status] for status in on_overview}
    assert on_keys_page["revoked"] != on_keys_page["disabled"]
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()


def test_charts_leave_out_requests_no_key_made(
    browser: Browser, console_relay: RunningRelay, seeded: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, DESKTOP)
    sign_in(page, console_relay, ADMIN_KEY)
    legend = page.locator(".chart .legend")
    expect(legend).to_contain_text("gpt-5")
    expect(legend).to_contain_text("(no model named)")  # mobile-app's request without a model
    assert "(none)" not in legend.inner_text()
    page.get_by_role("link", name="Usage", exact=True).click()
    chart = page.get_by_test_id("usage-chart")
    expect(chart.locator(".legend")).to_contain_text("gpt-5")
    assert "(none)" not in chart.locator(".legend").inner_text()
    page.get_by_role("button", name="By key").click()
    expect(chart.locator(".legend")).to_contain_text("mobile-app")
    series = chart.locator(".legend").inner_text()
    assert "(deleted key)" not in series and "—" not in series
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_the_console_on_a_phone(
    browser: Browser, console_relay: RunningRelay, seeded: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, PHONE)
    page.goto(console_relay.url + "/console")
    shot(page, "phone-01-sign-in")
    sign_in(page, console_relay, ADMIN_KEY)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    page.get_by_role("button", name="Open menu").click()
    expect(nav).to_be_visible()
    shot(page, "phone-02-menu", full_page=False)
    nav.get_by_role("link", name="Overview").click()
    expect(nav).to_be_hidden()
    expect(page.locator(".chart svg")).to_be_visible()
    shot(page, "phone-03-overview")
    quick_start = page.locator("section.card", has=page.get_by_role("heading", name="Quick start"))
    copy = quick_start.get_by_role("button", name="Copy").bounding_box()
    curl = quick_start.locator("pre").bounding_box()
    assert copy and curl and not boxes_overlap(copy, curl), (copy, curl)
    for number, route in enumerate(["keys", "models", "usage", "playground"], start=4):
        go(page, console_relay, route)
        expect(page.locator(".loading")).to_have_count(0)
        shot(page, f"phone-{number:02d}-{route}")
        if route == "keys":
            tabs = page.get_by_role("group", name="Filter by status")
            group = tabs.bounding_box()
            first = tabs.get_by_role("button", name=re.compile("^All")).bounding_box()
            revoked = tabs.get_by_role("button", name=re.compile("^Revoked")).bounding_box()
            assert group and first and revoked, "the tabs are laid out"
            assert (revoked["height"], revoked["y"]) == (first["height"], first["y"]), (
                "the Revoked tab is one line high, on the same row as All"
            )
            assert revoked["x"] + revoked["width"] <= group["x"] + group["width"], "not cut off"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px)"
    assert not page.js_errors  # type: ignore[attr-defined]
    page.context.close()
