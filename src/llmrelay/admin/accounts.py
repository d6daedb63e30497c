"""`/admin/accounts...`: create, list, read, change and delete accounts; top one up; read its
balance history. Every change moves the key generation (`store/accounts.py`), so every relay
applies it before its next request.

Deleting an account that still has keys not revoked is refused (409 `account_in_use`): its
keys would otherwise lose their shared limits silently. Revoked keys are detached.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.account_object import (
    account_object,
    account_standing,
    credit_object,
    run_store,
)
from llmrelay.admin.account_shapes import (
    AccountCreate,
    AccountDeleted,
    AccountList,
    AccountObject,
    AccountPatch,
    CreditList,
    CreditObject,
    TopUp,
)
from llmrelay.admin.endpoint import Endpoint, json_response, query, read_body
from llmrelay.admin.key_bodies import checked_fields, decode_body
from llmrelay.protocol.errors import invalid_request
from llmrelay.store.accounts import ADMIN_ACTOR, Account, AccountStore

if TYPE_CHECKING:
    from llmrelay.relay import Relay

HISTORY_LIMIT = 100


def account_create_fields(raw: bytes, known_model: Any) -> dict[str, Any]:
    body = decode_body(raw, AccountCreate)
    if body.balance_usd is not None and body.budget_usd is not None:
        raise invalid_request(
            "Give either 'budget_usd' (a budget per period) or 'balance_usd' (a prepaid "
            "balance), not both.",
            param="balance_usd",
            code="invalid_value",
        )
    return checked_fields(msgspec.structs.asdict(body), known_model)


def account_patch_fields(raw: bytes, known_model: Any) -> dict[str, Any]:
    body = decode_body(raw, AccountPatch)
    fields = {
        name: value
        for name, value in msgspec.structs.asdict(body).items()
        if value is not msgspec.UNSET
    }
    return checked_fields(fields, known_model)


class AccountRoutes:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.store = AccountStore(relay.engine, relay.generation)

    def _known_model(self, name: str) -> bool:
        return self.relay.catalog.lookup(name) is not None

    async def object(self, account: Account, keys: int | None = None) -> AccountObject:
        if keys is None:
            keys = (await asyncio.to_thread(self.store.key_counts)).get(account.id, 0)
        return account_object(account, await account_standing(self.relay, account), keys)

    async def create(self, request: Request) -> Response:
        fields = account_create_fields(await read_body(request), self._known_model)
        account = await run_store(lambda: self.store.create(**fields))
        return json_response(await self.object(account, 0), 201)

    async def list_accounts(self, request: Request) -> Response:
        found = await asyncio.to_thread(self.store.all)
        counts = await asyncio.to_thread(self.store.key_counts)
        data = [await self.object(account, counts.get(account.id, 0)) for account in found]
        return json_response(AccountList(data=data))

    async def get(self, request: Request) -> Response:
        account = await run_store(self.store.get, request.path_params["id"])
        return json_response(await self.object(account))

    async def update(self, request: Request) -> Response:
        account_id = request.path_params["id"]
        fields = account_patch_fields(await read_body(request), self._known_model)
        disabled = fields.pop("disabled", None)
        account = await run_store(self.store.update, account_id, fields)
        if disabled is not None:
            account = await run_store(self.store.set_disabled, account_id, disabled)
        return json_response(await self.object(account))

    async def delete(self, request: Request) -> Response:
        account = await run_store(self.store.delete, request.path_params["id"])
        return json_response(AccountDeleted(id=account.id))

    async def topup(self, request: Request) -> Response:
        account_id = request.path_params["id"]
        body = decode_body(await read_body(request), TopUp)
        if body.kind == "topup" and body.amount_usd <= 0:
            raise invalid_request(
                "Invalid 'amount_usd': a top-up adds more than $0 (use kind 'adjustment' to "
                "take from a balance).",
                param="amount_usd",
                code="invalid_value",
            )
        credit = await run_store(
            lambda: self.store.credit(
                account_id, body.amount_usd, body.kind, ADMIN_ACTOR, body.note
            )
        )
        return json_response(credit_object(credit), 201)

    async def history(self, request: Request) -> Response:
        account_id = request.path_params["id"]
        before = request.query_params.get("before")
        if before is not None and not before.isdigit():
            raise invalid_request(
                "Invalid 'before': expected a credit id.", param="before", code="invalid_value"
            )
        found = await run_store(
            lambda: self.store.history(
                account_id, HISTORY_LIMIT + 1, int(before) if before else None
            )
        )
        data = [credit_object(credit) for credit in found[:HISTORY_LIMIT]]
        return json_response(CreditList(data=data, has_more=len(found) > HISTORY_LIMIT))


def account_endpoints(relay: Relay) -> list[Endpoint]:
    routes = AccountRoutes(relay)
    one = "/admin/accounts/{id}"
    before = query("before", "only credits with a lower id (the last one of the page before)")
    return [
        Endpoint(
            "POST", "/admin/accounts", routes.create,
            "Create an account (a budget, or a prepaid balance)", AccountObject,
            body=AccountCreate, status=201,
        ),
        Endpoint("GET", "/admin/accounts", routes.list_accounts, "List accounts", AccountList),
        Endpoint("GET", one, routes.get, "Read an account", AccountObject),
        Endpoint(
            "PATCH", one, routes.update, "Change an account's fields", AccountObject,
            body=AccountPatch,
        ),
        Endpoint(
            "DELETE", one, routes.delete, "Delete an account with no live keys", AccountDeleted
        ),
        Endpoint(
            "POST", one + "/topup", routes.topup, "Credit a prepaid account", CreditObject,
            body=TopUp, status=201,
        ),
        Endpoint(
            "GET", one + "/history", routes.history,
            "A prepaid account's credits, newest first, with who gave each", CreditList,
            query=(before,),
        ),
    ]  # fmt: skip
