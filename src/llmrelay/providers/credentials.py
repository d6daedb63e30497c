"""Upstream credentials: which configured values are secret, and keeping them out of text.

Any text that comes from an upstream and goes on to a client, the ledger or a log is first
passed through the provider's `Scrubber`. A careless or hostile upstream may echo the
relay's credential in an error, whole or in part, base64-encoded (inside a Basic or a
Bearer token, say) or URL-encoded (inside a query string). The scrubber hides every run of
8 or more characters of any of those forms, whatever the letter case.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from llmrelay.config import REMOTE_PROVIDERS, RemoteProviderConfig, Settings

WINDOW = 8
"""The shortest run of a credential that is hidden; shorter credentials are not scrubbed."""
MASK = "***"
PUBLIC_HEADERS = frozenset(
    {"accept", "anthropic-beta", "anthropic-version", "content-type", "openai-beta", "user-agent"}
)
"""Headers an operator may configure whose values are not secret; every other header's is."""
SECRET_QUERY_WORDS = ("key", "token", "secret", "sig", "password", "auth")
"""A query parameter of `base_url` whose name holds one of these carries a credential."""

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """ASCII letters in lower case, every other character kept (so positions stay put)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_FOLD)


def provider_credentials(config: RemoteProviderConfig) -> list[str]:
    """The secret values in one provider's configuration: its API key, the values of its
    headers (but the few public ones), and any user, password or key in its `base_url`."""
    url = urlsplit(config.base_url)
    query = parse_qsl(url.query)
    values = [config.api_key, url.username, url.password]
    values += [v for name, v in config.headers.items() if name.lower() not in PUBLIC_HEADERS]
    values += [v for name, v in query if any(w in name.lower() for w in SECRET_QUERY_WORDS)]
    secrets: list[str] = []
    for value in values:
        if value and len(value) >= WINDOW and value not in secrets:
            secrets.append(value)
        scheme, _, token = (value or "").partition(" ")  # "Bearer xyz" in a custom header
        if scheme and len(token) >= WINDOW and token not in secrets:
            secrets.append(token)
    return secrets


def all_credentials(settings: Settings) -> list[str]:
    """Every provider's credentials (for the log scrubber, which serves them all)."""
    remote = [c for c in settings.providers.values() if isinstance(c, REMOTE_PROVIDERS)]
    return [secret for config in remote for secret in provider_credentials(config)]


def _base64_forms(secret: bytes) -> set[str]:
    """The characters of the secret's base64 encoding that depend on the secret alone, at
    each of the three offsets it may sit at inside a longer encoded text."""
    forms = set()
    for offset in range(3):
        first = -(-8 * offset // 6)  # the first character with no bit of what precedes it
        last = 8 * (offset + len(secret)) // 6  # past the last with no bit of what follows
        shifted = b"\0" * offset + secret
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(encode(shifted).decode("ascii")[first:last])
    return forms


def encoded_forms(secret: str) -> set[str]:
    """The secret as it may appear in text: as is, base64 and URL-encoded (and both)."""
    forms = {secret} | _base64_forms(secret.encode())
    forms |= {encode(form, safe="") for form in forms for encode in (quote, quote_plus)}
    return {form for form in forms if len(form) >= WINDOW}


PROTOCOL_WORD = re.compile(r"[a-z_.]+")
"""A string value that is a word of the protocol (a type, a status, a stop reason)."""


class Scrubber:
    """Hides every configured credential in a text; built once per provider.

    All 8-character windows of every encoded form are kept in one set, so a text is scanned
    once, in linear time: only runs of characters that occur in some form are looked at,
    and each position there costs one set lookup."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        windows: set[str] = set()
        for secret in secrets:
            if len(secret) < WINDOW:
                continue
            for form in encoded_forms(secret):
                folded = fold(form)
                windows.update(folded[i : i + WINDOW] for i in range(len(folded) - WINDOW + 1))
        self._windows = frozenset(windows)
        alphabet = "".join(sorted({char for window in windows for char in window}))
        self._runs = re.compile(f"[{re.escape(alphabet)}]{{{WINDOW},}}") if alphabet else None

    @classmethod
    def of(cls, secrets: Scrubber | Iterable[str]) -> Scrubber:
        return secrets if isinstance(secrets, Scrubber) else cls(secrets)

    def __call__(self, text: str) -> str:
        if self._runs is None or len(text) < WINDOW:
            return text
        folded = fold(text)
        spans: list[list[int]] = []
        for run in self._runs.finditer(folded):
            self._find(folded, run.start(), run.end(), spans)
        if not spans:
            return text
        pieces: list[str] = []
        done = 0
        for start, end in spans:
            pieces += (text[done:start], MASK)
            done = end
        pieces.append(text[done:])
        return "".join(pieces)

    def values(self, value: Any) -> bool:
        """Scrub, in place, every string value (not key) of a passed-through JSON value, at
        any depth, but a bare protocol word (`response.created`, `end_turn`: lowercase
        letters, `.` and `_` only), so that a credential sharing 8 characters with one cannot
        break the protocol. True if any string changed."""
        if self._runs is None:
            return False
        changed = False
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, str):
                if not PROTOCOL_WORD.fullmatch(item):
                    clean = self(item)
                    if clean is not item:
                        value[key], changed = clean, True
            elif isinstance(item, dict | list) and self.values(item):
                changed = True
        return changed

    def _find(self, folded: str, start: int, end: int, spans: list[list[int]]) -> None:
        """Add the spans of `folded[start:end]` covered by windows of a credential."""
        windows = self._windows
        for i in range(start, end - WINDOW + 1):
            if folded[i : i + WINDOW] in windows:
                if spans and i <= spans[-1][1]:
                    spans[-1][1] = i + WINDOW
                else:
                    spans.append([i, i + WINDOW])


_TRACEBACKS = logging.Formatter()


def _scrub_record(record: logging.LogRecord, scrub: Scrubber) -> None:
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: keep them, scrubbed
        message = f"{record.msg!s} {record.args!r}"
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(_TRACEBACKS.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def hide_in_logs(scrub: Scrubber) -> None:
    """Scrub every log record of the process as it is made, whatever logger or handler it
    goes to (uvicorn's included): its message, its traceback and its stack."""
    make_record = logging.getLogRecordFactory()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _scrub_record(record, scrub)
        return record

    logging.setLogRecordFactory(scrubbed_record)
