"""`/admin/redemption-codes`: make codes (shown once), list them (prefixes and state only),
void an unused one. Redeeming is `POST /v1/account/redeem` (`admin/account_customer.py`)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, get_args

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.account_object import code_created, code_object, run_store
from llmrelay.admin.account_shapes import (
    CodeList,
    CodesCreate,
    CodesCreated,
    CodeState,
    CodeVoided,
)
from llmrelay.admin.endpoint import Endpoint, json_response, query, read_body
from llmrelay.admin.key_bodies import decode_body
from llmrelay.protocol.errors import invalid_request
from llmrelay.store.accounts import AccountStore

if TYPE_CHECKING:
    from llmrelay.relay import Relay

STATES = get_args(CodeState)


class CodeRoutes:
    def __init__(self, relay: Relay) -> None:
        self.store = AccountStore(relay.engine, relay.generation)

    async def create(self, request: Request) -> Response:
        body = decode_body(await read_body(request), CodesCreate)
        if body.expires_at is not None and body.expires_at <= time.time():
            raise invalid_request(
                "Invalid 'expires_at': it is in the past.", param="expires_at", code="invalid_value"
            )
        made = await run_store(
            lambda: self.store.create_codes(body.amount_usd, body.count, body.expires_at)
        )
        now = time.time()
        return json_response(
            CodesCreated(data=[code_created(code, secret, now) for code, secret in made]), 201
        )

    async def list_codes(self, request: Request) -> Response:
        state = request.query_params.get("state") or None
        if state is not None and state not in STATES:
            raise invalid_request(
                f"Invalid 'state': expected one of {', '.join(STATES)}.",
                param="state",
                code="invalid_value",
            )
        found = await asyncio.to_thread(self.store.codes, state)
        now = time.time()
        return json_response(CodeList(data=[code_object(code, now) for code in found]))

    async def void(self, request: Request) -> Response:
        code = await run_store(self.store.void_code, request.path_params["id"])
        return json_response(CodeVoided(id=code.id))


def code_endpoints(relay: Relay) -> list[Endpoint]:
    routes = CodeRoutes(relay)
    state = query("state", "only codes in this state", enum=list(STATES))
    path = "/admin/redemption-codes"
    return [
        Endpoint(
            "POST", path, routes.create, "Make redemption codes (shown this once)",
            CodesCreated, body=CodesCreate, status=201,
        ),
        Endpoint("GET", path, routes.list_codes, "List redemption codes", CodeList, query=(state,)),
        Endpoint("DELETE", path + "/{id}", routes.void, "Void an unused code", CodeVoided),
    ]  # fmt: skip
