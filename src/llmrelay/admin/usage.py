"""`/admin/usage`, `/admin/requests` (and `.csv`): the ledger, summed and listed.

The customer routes (`/v1/key/usage`, `/v1/key/requests`) answer with the same functions,
restricted to the caller's own key.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llmrelay.admin.endpoint import Endpoint, json_response
from llmrelay.admin.shapes import RequestList, RequestRecord, UsageList, UsageRow
from llmrelay.admin.usage_params import (
    LOG_FILTER_PARAMS,
    PAGE_PARAMS,
    USAGE_PARAMS,
    decode_cursor,
    encode_cursor,
    group_by,
    page_limit,
    usage_filter,
    utc_day,
    utc_hour,
)
from llmrelay.store.usage_queries import UsageFilter, UsageQueries

if TYPE_CHECKING:
    from llmrelay.relay import Relay

CSV_MAX_ROWS = 100_000
CSV_BATCH = 2_000
RECORD_FIELDS = RequestRecord.__struct_fields__
CSV_COLUMNS = ("time_utc", *RECORD_FIELDS)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def usage_row(values: dict[str, Any]) -> UsageRow:
    if "day" in values:
        values["day"] = utc_day(values["day"])
    if "hour" in values:
        values["hour"] = utc_hour(values["hour"])
    return UsageRow(**values)


def request_record(row: dict[str, Any]) -> RequestRecord:
    values = {name: row.get(name) for name in RECORD_FIELDS}
    values["created_at"] = int(row["created_at"])
    values["cost_usd"] = float(row.get("cost_usd") or 0.0)
    values["usage_estimated"] = bool(row.get("usage_estimated"))
    return RequestRecord(**values)


async def usage_list(queries: UsageQueries, params: QueryParams, key_id: str | None) -> UsageList:
    groups = group_by(params)
    rows = await asyncio.to_thread(queries.aggregate, usage_filter(params, key_id), groups)
    return UsageList(data=[usage_row(row) for row in rows])


async def request_list(
    queries: UsageQueries, params: QueryParams, key_id: str | None
) -> RequestList:
    where = usage_filter(params, key_id)
    limit, after = page_limit(params), decode_cursor(params)
    rows, following = await asyncio.to_thread(queries.records, where, limit, after)
    return RequestList(
        data=[request_record(row) for row in rows],
        has_more=following is not None,
        next_cursor=encode_cursor(following),
    )


def _cell(value: Any) -> Any:
    """Spreadsheets run cells that start like a formula: such text gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def _csv_lines(rows: list[dict[str, Any]], header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_COLUMNS)
    for row in rows:
        record = request_record(row)
        stamp = datetime.fromtimestamp(row["created_at"], UTC).isoformat(timespec="seconds")
        cells = [getattr(record, name) for name in RECORD_FIELDS]
        writer.writerow([stamp.replace("+00:00", "Z"), *(_cell(v) for v in cells)])
    return buffer.getvalue().encode()


async def csv_export(queries: UsageQueries, where: UsageFilter) -> AsyncIterator[bytes]:
    """The matching records, newest first, read and sent a batch at a time."""
    sent, after = 0, None
    yield _csv_lines([], header=True)
    while sent < CSV_MAX_ROWS:
        batch = min(CSV_BATCH, CSV_MAX_ROWS - sent)
        rows, after = await asyncio.to_thread(queries.records, where, batch, after)
        if rows:
            yield _csv_lines(rows, header=False)
        sent += len(rows)
        if after is None:
            return


class UsageRoutes:
    def __init__(self, relay: Relay) -> None:
        self.queries = UsageQueries(relay.engine)

    async def usage(self, request: Request) -> Response:
        return json_response(await usage_list(self.queries, request.query_params, None))

    async def requests(self, request: Request) -> Response:
        return json_response(await request_list(self.queries, request.query_params, None))

    async def requests_csv(self, request: Request) -> Response:
        where = usage_filter(request.query_params)
        return StreamingResponse(
            csv_export(self.queries, where),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="requests.csv"'},
        )


def usage_endpoints(relay: Relay) -> list[Endpoint]:
    routes = UsageRoutes(relay)
    return [
        Endpoint(
            "GET", "/admin/usage", routes.usage, "Usage totals by day, hour, model and key",
            UsageList, query=USAGE_PARAMS,
        ),
        Endpoint(
            "GET", "/admin/requests", routes.requests, "The request log, newest first",
            RequestList, query=(*LOG_FILTER_PARAMS, *PAGE_PARAMS),
        ),
        Endpoint(
            "GET", "/admin/requests.csv", routes.requests_csv,
            f"The request log as CSV (up to {CSV_MAX_ROWS:,} records)", None,
            query=LOG_FILTER_PARAMS, media_type="text/csv",
        ),
    ]  # fmt: skip
