"""Budget periods: when the current one began and when the next begins (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_last: dict[str, tuple[float, float]] = {}
"""The period each name was last asked about: on the hot path `now` is almost always in it."""


def period_bounds(period: str, now: float) -> tuple[float, float | None]:
    """(start, next start) of the period holding `now`; `total` starts at 0 and never ends."""
    if period == "total":
        return 0.0, None
    last = _last.get(period)
    if last is not None and last[0] <= now < last[1]:
        return last
    bounds = _compute(period, now)
    _last[period] = bounds
    return bounds


def _compute(period: str, now: float) -> tuple[float, float]:
    moment = datetime.fromtimestamp(now, UTC)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start = midnight
        following = start + timedelta(days=1)
    elif period == "weekly":
        start = midnight - timedelta(days=midnight.weekday())
        following = start + timedelta(days=7)
    elif period == "monthly":
        start = midnight.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return start.timestamp(), following.timestamp()
