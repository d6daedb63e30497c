"""Pages in Chromium for the catalogue and language tests: a page in a given language and
viewport that records script errors and every URL it loads, and the layout and translation
checks run in it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

STRINGS = Path(__file__).parents[2] / "src/llmrelay/console/static/assets/i18n"
LOCALES = {"en": "en-US", "zh": "zh-CN"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def open_page(browser: Browser, viewport: dict[str, int], language: str = "en") -> Page:
    """A new page whose browser asks for `language` (Accept-Language and navigator)."""
    context = browser.new_context(viewport=viewport, locale=LOCALES[language])
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    loaded: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: loaded.append(request.url))

    def on_console(message: Any) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    page.js_errors = errors  # type: ignore[attr-defined]
    page.loaded = loaded  # type: ignore[attr-defined]
    return page


def table(language: str) -> dict[str, str]:
    return json.loads((STRINGS / f"{language}.json").read_text(encoding="utf-8"))


def english_patterns() -> list[re.Pattern[str]]:
    """Each English string with words in it (placeholders match anything), for finding one
    left untranslated on a Chinese page."""
    patterns = []
    for text in table("en").values():
        words = re.sub(r"\{\w+\}", "", text)
        if not re.search(r"[A-Za-z]{2,}", words):
            continue
        parts = re.split(r"\{\w+\}", text)
        patterns.append(re.compile(".+?".join(re.escape(part) for part in parts)))
    return patterns


VISIBLE_TEXTS = """() => {
  const shown = (el) => el && el.getClientRects().length > 0 &&
    getComputedStyle(el).visibility !== "hidden";
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || ["SCRIPT", "STYLE", "PRE", "CODE"].includes(parent.tagName)) continue;
    if (parent.closest("pre, code, .visually-hidden")) {
      if (!parent.closest(".visually-hidden")) continue;
    } else if (!shown(parent)) continue;
    const text = node.textContent.trim();
    if (text) texts.push(text);
  }
  for (const el of document.querySelectorAll("[placeholder], [aria-label], [title]")) {
    for (const name of ["placeholder", "aria-label", "title"]) {
      const value = (el.getAttribute(name) || "").trim();
      if (value) texts.push(value);
    }
  }
  return texts;
}"""


def untranslated(page: Page) -> list[str]:
    """Texts on the page (and labels, titles, placeholders) that are an English string."""
    patterns = english_patterns()
    found = []
    for text in page.evaluate(VISIBLE_TEXTS):
        for line in text.splitlines():
            if any(p.fullmatch(line.strip()) for p in patterns):
                found.append(line.strip())
    return sorted(set(found))


OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX !== "visible") return a.getBoundingClientRect().right <= width + 1;
      if (style.position === "fixed") return false;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (!box.width || getComputedStyle(el).visibility === "hidden") continue;
    if ((box.right > width + 1 || box.left < -1) && !clipped(el)) {
      const where = `${Math.round(box.left)}..${Math.round(box.right)}`;
      out.push(`${el.tagName.toLowerCase()}.${el.className}: ${where}`);
    }
  }
  const scrolls = document.documentElement.scrollWidth;
  if (scrolls > width) out.push(`page scrolls: ${scrolls}`);
  return out;
}"""


def overflowing(page: Page) -> list[str]:
    """Elements reaching past the viewport's sides, other than inside a scrolling box."""
    return page.evaluate(OVERFLOWING)
