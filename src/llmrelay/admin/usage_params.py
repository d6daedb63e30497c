"""Query parameters of the usage and request-log routes, checked: 400 naming the bad one."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, date, datetime

import orjson
from starlette.datastructures import QueryParams

from llmrelay.admin.endpoint import QueryParam, query
from llmrelay.metering.ledger import ENDPOINTS
from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.store.usage_queries import GROUPS, Cursor, UsageFilter

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_ROW_ID = 2**63
"""Row ids are 64-bit signed integers: a larger one in a cursor would overflow the query."""

# The patterns the OpenAPI document shows are the ones checked (with `fullmatch`), spelt in
# the subset of regex syntax ECMA-262 and Python share: `[0-9]`, since Python's `\d` also
# matches other scripts' digits.
DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
DATE_PATTERN = f"^{DATE}$"
TIME_PATTERN = f"^([0-9]+([.][0-9]+)?|{DATE})$"
GROUP = "(" + "|".join(GROUPS) + ")"
GROUP_BY_PATTERN = f"^{GROUP}(,{GROUP})*$"

TIME_HELP = "Unix seconds, or a UTC date YYYY-MM-DD"
FILTER_PARAMS = (
    query("start", f"records from this time on ({TIME_HELP})", pattern=TIME_PATTERN),
    query(
        "end",
        f"records before this time ({TIME_HELP}; a date includes that whole day)",
        pattern=TIME_PATTERN,
    ),
    query("key_id", "only this key's records"),
    query("account_id", "only the records of this account's keys"),
    query("model", "only this public model's records"),
    query(
        "endpoint",
        "only the records of this door (client protocol)",
        enum=list(ENDPOINTS),
    ),
)
STATUS_PARAM = query("status", "only successes or only failures", enum=["ok", "error"])
USAGE_PARAMS: tuple[QueryParam, ...] = (
    query(
        "group_by",
        "comma list of day, hour, model, key, endpoint, account (none: one row of totals)",
        pattern=GROUP_BY_PATTERN,
    ),
    *FILTER_PARAMS,
)
LOG_FILTER_PARAMS: tuple[QueryParam, ...] = (*FILTER_PARAMS, STATUS_PARAM)
PAGE_PARAMS: tuple[QueryParam, ...] = (
    query(
        "limit",
        f"records per page (1 to {MAX_LIMIT})",
        "integer",
        default=DEFAULT_LIMIT,
        minimum=1,
        maximum=MAX_LIMIT,
    ),
    query("cursor", "next_cursor of the previous page"),
)


def _bad(param: str, message: str) -> RelayError:
    return invalid_request(message, param=param, code="invalid_value")


def day_start(text: str, param: str) -> float:
    """The Unix time a `YYYY-MM-DD` UTC day begins (only that spelling, not ISO 8601's
    others such as `20261125` or `2026-W48-3`)."""
    try:
        if not re.fullmatch(DATE_PATTERN, text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise _bad(param, f"Invalid '{param}': expected a date YYYY-MM-DD.") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def parse_time(text: str, param: str, *, end: bool = False) -> float:
    """Unix seconds, or a date (for an `end`, the day after it begins: the day is included)."""
    if not re.fullmatch(TIME_PATTERN, text):
        raise _bad(param, f"Invalid '{param}': expected {TIME_HELP}.")
    if "-" in text:
        start = day_start(text, param)
        return start + 86400 if end else start
    value = float(text)
    if not value < 1e11:
        raise _bad(param, f"Invalid '{param}': {text} is not a Unix time in seconds.")
    return value


def _endpoint(value: str | None) -> str | None:
    if value is not None and value not in ENDPOINTS:
        raise _bad("endpoint", f"Invalid 'endpoint': expected one of {', '.join(ENDPOINTS)}.")
    return value


def usage_filter(params: QueryParams, key_id: str | None = None) -> UsageFilter:
    """The filters of `params`; `key_id` given (a customer's own key) overrides theirs."""
    start = params.get("start")
    end = params.get("end")
    status = params.get("status") or None
    if status not in (None, "ok", "error"):
        raise _bad("status", "Invalid 'status': expected 'ok' or 'error'.")
    where = UsageFilter(
        start=parse_time(start, "start") if start else None,
        end=parse_time(end, "end", end=True) if end else None,
        key_id=key_id or params.get("key_id") or None,
        account_id=None if key_id else params.get("account_id") or None,
        model=params.get("model") or None,
        endpoint=_endpoint(params.get("endpoint") or None),
        status=status,  # type: ignore[arg-type]
    )
    if where.start is not None and where.end is not None and where.end <= where.start:
        raise _bad("end", "Invalid 'end': it must come after 'start'.")
    return where


def group_by(params: QueryParams) -> tuple[str, ...]:
    text = params.get("group_by") or ""
    if not text:
        return ()
    if not re.fullmatch(GROUP_BY_PATTERN, text):
        raise _bad(
            "group_by", f"Invalid 'group_by': {text!r} is not a comma list of {', '.join(GROUPS)}."
        )
    return tuple(dict.fromkeys(text.split(",")))


def page_limit(params: QueryParams, maximum: int = MAX_LIMIT) -> int:
    text = params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    digits = text.lstrip("0")
    small = text.isascii() and text.isdigit() and len(digits) <= len(str(maximum))
    if not small or not 1 <= int(text) <= maximum:
        raise _bad("limit", f"Invalid 'limit': expected an integer from 1 to {maximum}.")
    return int(text)


def encode_cursor(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps(list(cursor))).decode().rstrip("=")


def decode_cursor(params: QueryParams) -> Cursor | None:
    text = params.get("cursor")
    if not text:
        return None
    try:
        created_at, row_id = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(row_id, bool) or not isinstance(row_id, int):
            raise ValueError
        if not 0 <= row_id < MAX_ROW_ID:
            raise ValueError
        return float(created_at), row_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise _bad("cursor", "Invalid 'cursor': pass next_cursor from the previous page.") from None


def utc_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def utc_hour(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:00:00Z")
