"""`GET /v1/responses/{id}/input_items`: a stored response's own input items, a page at a
time, in OpenAI's list shape (https://platform.openai.com/docs/api-reference/responses/
input-items): `{object: "list", data, first_id, last_id, has_more}`, with `limit` (1 to 100,
20 by default), `order` (`desc`, the default: the last item first, or `asc`) and `after` (an
item id: the page starts after it).

Every listed item has an `id`: the client's own, or one made from the response id and the
item's place, the same on every call (so that `after` works). A message sent as a string, or
with string content, is listed with OpenAI's content parts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.datastructures import QueryParams

from llmrelay.protocol.errors import RelayError, invalid_request

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
ORDERS = ("asc", "desc")


def _bad(param: str, message: str) -> RelayError:
    return invalid_request(message, param=param, code="invalid_value")


def _limit(params: QueryParams) -> int:
    text = params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_LIMIT):
        raise _bad("limit", f"Invalid 'limit': expected an integer from 1 to {MAX_LIMIT}.")
    return int(text)


def _order(params: QueryParams) -> str:
    order = params.get("order") or "desc"
    if order not in ORDERS:
        raise _bad("order", f"Invalid 'order': {order!r}. Supported values are 'asc' and 'desc'.")
    return order


def listed_item(response_id: str, index: int, item: dict[str, Any]) -> dict[str, Any]:
    """An input item as the list shows it: with an id, and a message's content as parts."""
    listed = dict(item)
    kind = listed.setdefault("type", "message" if "role" in item else None)
    if kind == "message" and isinstance(listed.get("content"), str):
        part = "output_text" if listed.get("role") == "assistant" else "input_text"
        listed["content"] = [{"type": part, "text": listed["content"]}]
    if not isinstance(listed.get("id"), str) or not listed["id"]:
        digest = hashlib.sha256(f"{response_id}:{index}".encode()).hexdigest()[:32]
        listed["id"] = f"{'msg' if kind == 'message' else 'item'}_{digest}"
    return listed


def input_items_page(
    response_id: str, items: list[dict[str, Any]], params: QueryParams
) -> dict[str, Any]:
    limit, order, after = _limit(params), _order(params), params.get("after")
    listed = [listed_item(response_id, i, item) for i, item in enumerate(items)]
    if order == "desc":
        listed.reverse()
    start = 0
    if after:
        ids = [item["id"] for item in listed]
        if after not in ids:
            raise _bad("after", f"Invalid 'after': no input item of this response is {after!r}.")
        start = ids.index(after) + 1
    page = listed[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + limit < len(listed),
    }
