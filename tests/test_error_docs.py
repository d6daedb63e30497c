"""docs/errors.md names every error code the relay can answer with: the codes written in the
source (`code="..."`, and the connection guard's raw answer), and the vocabulary of upstream
failures (`protocol/error_codes.py`)."""

from __future__ import annotations

import re
from pathlib import Path

from llmrelay.protocol.error_codes import RELAY_CODES

ROOT = Path(__file__).parents[1]
SOURCE = ROOT / "src" / "llmrelay"
PAGE = ROOT / "docs" / "errors.md"
WRITTEN = re.compile(
    r"""code=["'](?P<a>[a-z_]+)["']|"code": "(?P<b>[a-z_]+)"|refused\(\d+, "(?P<c>[a-z_]+)\""""
)
POSITIONAL = re.compile(r'_bad\([^,()]+, [^,()]+, "(?P<code>[a-z_]+)"\)')
"""`_bad(message, param, code)` in the vendor translations."""


def codes_in_source() -> set[str]:
    codes: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        if "console" in path.parts:
            continue
        text = path.read_text()
        for match in WRITTEN.finditer(text):
            codes.add(next(group for group in match.groups() if group))
        codes |= {match.group("code") for match in POSITIONAL.finditer(text)}
    return codes


def test_the_source_has_the_codes_we_know_of() -> None:
    """The patterns above still find the codes (a refactor that hid them would pass the
    next test vacuously)."""
    assert {"too_many_connections", "invalid_config", "unsupported_content", "key_exists"} <= (
        codes_in_source()
    )


def test_every_code_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", PAGE.read_text()))
    missing = sorted((codes_in_source() | RELAY_CODES) - documented)
    assert missing == [], f"docs/errors.md does not name {missing}"
