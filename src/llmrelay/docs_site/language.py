"""Which language the docs' navigation speaks: English or Chinese.

An explicit choice wins (the switch's `?lang=`, then the `llmrelay_lang` cookie it leaves,
which the console reads and writes too); otherwise the browser's `Accept-Language`, read as
RFC 9110 (section 12.5.4) says: the range with the highest weight that names one of ours.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")
DEFAULT = "en"
COOKIE = "llmrelay_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
HTML_LANG = {"en": "en", "zh": "zh-Hans"}

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "site": "llmrelay documentation",
        "home": "Documentation",
        "language": "Language",
        "markdown": "This page as Markdown",
        "untranslated": "This page has no Chinese version yet: it is shown in English.",
        "skip": "Skip to the page",
        "menu": "Pages",
        "index_for_llms": "Index for LLMs (llms.txt)",
        "api": "OpenAPI document",
    },
    "zh": {
        "site": "llmrelay 文档",
        "home": "文档首页",
        "language": "语言",
        "markdown": "本页的 Markdown 原文",
        "untranslated": "本页暂无中文版,以下为英文原文。",
        "skip": "跳到正文",
        "menu": "页面",
        "index_for_llms": "供大模型读取的索引 (llms.txt)",
        "api": "OpenAPI 文档",
    },
}
"""Every string the layout shows, in each language (a test checks both have every key)."""

LANGUAGE_NAMES = {"en": "English", "zh": "中文"}


def _weight(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def from_accept_language(header: str | None) -> str:
    """The first of the highest-weighted ranges that is `en...` or `zh...`; English else."""
    best, best_weight = DEFAULT, 0.0
    for item in (header or "").split(","):
        tag, _, params = item.partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        weight = _weight(params)
        if primary in LANGUAGES and weight > best_weight:
            best, best_weight = primary, weight
    return best


def chosen_language(switch: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language to answer in: the switch, else the remembered choice, else the header."""
    for explicit in (switch, cookie):
        if explicit in LANGUAGES:
            return explicit
    return from_accept_language(accept_language)
