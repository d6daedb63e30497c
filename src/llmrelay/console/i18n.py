"""The language of the console and the model catalogue: English or Chinese.

One string table per language (`static/assets/i18n/<lang>.json`), read by the console's
scripts in the browser and by the catalogue's page here. The choice is the `llmrelay_lang`
cookie (`en` or `zh`, set by the language switch; the docs site reads the same cookie), else
the first of English and Chinese in the request's `Accept-Language` (by weight), else English.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "zh")
DEFAULT = "en"
COOKIE = "llmrelay_lang"
TABLES = Path(__file__).parent / "static" / "assets" / "i18n"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _accepted(header: str) -> list[tuple[float, int, str]]:
    """(weight, position, primary subtag) for each language range in `Accept-Language`
    (RFC 9110, section 12.5.4), leaving out those weighted 0 or unreadable."""
    ranges = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        primary = tag.strip().lower().split("-")[0]
        if weight > 0 and primary:
            ranges.append((-weight, position, primary))
    return sorted(ranges)


def language_from(cookies: Mapping[str, str], accept_language: str | None) -> str:
    """The language to answer in: the remembered choice, else the browser's preference."""
    chosen = cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    for _, _, primary in _accepted(accept_language or ""):
        if primary in LANGUAGES:
            return primary
    return DEFAULT


@cache
def table(language: str) -> dict[str, str]:
    """The strings of `language`, by key (the same keys in every language)."""
    return json.loads((TABLES / f"{language}.json").read_text(encoding="utf-8"))


class Strings:
    """One language's strings, looked up by key with `{name}` placeholders filled in."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.table = table(language)

    def __call__(self, key: str, **values: object) -> str:
        text = self.table[key]
        if not values:
            return text
        return PLACEHOLDER.sub(lambda m: str(values.get(m[1], m[0])), text)

    def count(self, key: str, n: int, **values: object) -> str:
        """`key.one` for one, else `key.other`, with `{n}` filled in."""
        return self(f"{key}.{'one' if n == 1 else 'other'}", n=n, **values)
