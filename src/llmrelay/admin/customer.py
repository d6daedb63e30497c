"""What a customer sees with their own key: the key, its usage, its request log, and the
billing routes OpenAI chat front ends call to show a balance (OpenAI's old shapes).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, caller_key, json_response, query
from llmrelay.admin.key_object import key_object, tighter_standing
from llmrelay.admin.shapes import (
    BillingDay,
    BillingLineItem,
    BillingSubscription,
    BillingUsage,
    KeyObject,
    RequestList,
    UsageList,
)
from llmrelay.admin.usage import request_list, usage_list
from llmrelay.admin.usage_params import (
    DATE_PATTERN,
    LOG_FILTER_PARAMS,
    PAGE_PARAMS,
    USAGE_PARAMS,
    day_start,
)
from llmrelay.protocol.errors import invalid_request
from llmrelay.store.keys import ApiKey
from llmrelay.store.usage_queries import UsageFilter, UsageQueries

if TYPE_CHECKING:
    from llmrelay.relay import Relay

NO_BUDGET_LIMIT_USD = 100_000_000.0
"""`hard_limit_usd` for a key without a budget: the figure OpenAI-compatible relays use for
"unlimited". Zero would read as "nothing left" in the front ends that show a balance."""
MAX_BILLING_DAYS = 366
DAY = 86400

_OWN = "the caller's own key only"
BILLING_PARAMS = (
    query(
        "start_date",
        "first day, YYYY-MM-DD (default: the 1st of this month, UTC)",
        format="date",
        pattern=DATE_PATTERN,
    ),
    query(
        "end_date",
        "the day after the last, YYYY-MM-DD (default: tomorrow, UTC)",
        format="date",
        pattern=DATE_PATTERN,
    ),
)


def _without_key_id(params: tuple) -> tuple:
    return tuple(p for p in params if p.name not in ("key_id", "account_id"))


def billing_range(params: QueryParams, now: float) -> tuple[float, float]:
    """[start, end) as Unix times from `start_date` and `end_date` (end exclusive)."""
    today = datetime.fromtimestamp(now, UTC).date()
    start_text = params.get("start_date") or today.replace(day=1).isoformat()
    end_text = params.get("end_date") or (today + timedelta(days=1)).isoformat()
    start, end = day_start(start_text, "start_date"), day_start(end_text, "end_date")
    if end <= start:
        raise invalid_request(
            "Invalid 'end_date': it must come after 'start_date'.", param="end_date"
        )
    if end - start > MAX_BILLING_DAYS * DAY:
        raise invalid_request(
            f"Invalid 'end_date': at most {MAX_BILLING_DAYS} days can be asked at once.",
            param="end_date",
        )
    return start, end


def billing_subscription(key: ApiKey, limit: float) -> BillingSubscription:
    return BillingSubscription(
        hard_limit_usd=limit,
        soft_limit_usd=limit,
        system_hard_limit_usd=limit,
        access_until=int(key.expires_at or 0),
    )


def _cents(usd: float) -> float:
    return round(usd * 100, 6)


def billing_usage(rows: list[dict], start: float, end: float) -> BillingUsage:
    """One entry per day of [start, end), with each model's cost that day."""
    items: dict[int, list[BillingLineItem]] = {}
    for row in rows:
        item = BillingLineItem(name=row["model"] or "unknown", cost=_cents(row["cost_usd"]))
        items.setdefault(int(row["day"]), []).append(item)
    days = [
        BillingDay(timestamp=day, line_items=items.get(day, []))
        for day in range(int(start), int(end), DAY)
    ]
    total = sum(row["cost_usd"] for row in rows)
    return BillingUsage(daily_costs=days, total_usage=_cents(total))


class CustomerRoutes:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.queries = UsageQueries(relay.engine)

    async def _key(self, request: Request) -> ApiKey:
        return await caller_key(self.relay, request)

    async def key(self, request: Request) -> Response:
        key = await self._key(request)
        standing = await tighter_standing(self.relay, key)
        return json_response(key_object(key, standing, time.time()))

    async def usage(self, request: Request) -> Response:
        key = await self._key(request)
        return json_response(await usage_list(self.queries, request.query_params, key.id))

    async def requests(self, request: Request) -> Response:
        key = await self._key(request)
        return json_response(await request_list(self.queries, request.query_params, key.id))

    async def subscription(self, request: Request) -> Response:
        key = await self._key(request)
        return json_response(billing_subscription(key, await self._shown_limit(key)))

    async def billing_usage(self, request: Request) -> Response:
        key = await self._key(request)
        start, end = billing_range(request.query_params, time.time())
        return json_response(await self._billed(key, start, end))

    async def _billed(self, key: ApiKey, start: float, end: float) -> BillingUsage:
        where = UsageFilter(start=start, end=end, key_id=key.id)
        rows = await asyncio.to_thread(self.queries.aggregate, where, ("day", "model"))
        return billing_usage(rows, start, end)

    async def _shown_limit(self, key: ApiKey) -> float:
        """The `hard_limit_usd` that makes a front end's `hard_limit_usd - total_usage / 100`
        (with the usage route's default range, month to date) the budget left: what remains
        plus what that usage shows, whatever the budget's period."""
        standing = await tighter_standing(self.relay, key)
        if standing.remaining_usd is None:
            return NO_BUDGET_LIMIT_USD
        shown = await self._billed(key, *billing_range(QueryParams(), time.time()))
        return (standing.remaining_usd or 0.0) + shown.total_usage / 100


def customer_endpoints(relay: Relay) -> list[Endpoint]:
    routes = CustomerRoutes(relay)
    billing = [
        Endpoint(
            "GET",
            prefix + "/dashboard/billing/subscription",
            routes.subscription,
            "The key's budget in OpenAI's old billing shape",
            BillingSubscription,
            caller="key",
        )
        for prefix in ("/v1", "")
    ] + [
        Endpoint(
            "GET",
            prefix + "/dashboard/billing/usage",
            routes.billing_usage,
            "The key's daily costs in OpenAI's old billing shape (cents)",
            BillingUsage,
            caller="key",
            query=BILLING_PARAMS,
        )
        for prefix in ("/v1", "")
    ]
    return [
        Endpoint("GET", "/v1/key", routes.key, "The caller's own key", KeyObject, caller="key"),
        Endpoint(
            "GET", "/v1/key/usage", routes.usage, f"Usage totals of {_OWN}", UsageList,
            caller="key", query=_without_key_id(USAGE_PARAMS),
        ),
        Endpoint(
            "GET", "/v1/key/requests", routes.requests, f"The request log of {_OWN}",
            RequestList, caller="key",
            query=(*_without_key_id(LOG_FILTER_PARAMS), *PAGE_PARAMS),
        ),
        *billing,
    ]  # fmt: skip
