"""The caller's account, with an API key of it: `GET /v1/account` (its budget or balance,
and spend) and `POST /v1/account/redeem` (a redemption code credits its balance).

Redeeming is `store.accounts.redeem`, the one function a signed-in member's route calls too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.account_object import credit_object, run_store
from llmrelay.admin.account_shapes import AccountObject, Redeem, Redeemed
from llmrelay.admin.accounts import AccountRoutes
from llmrelay.admin.endpoint import Endpoint, caller_key, json_response, read_body
from llmrelay.admin.key_bodies import decode_body
from llmrelay.protocol.errors import RelayError
from llmrelay.store.accounts import Account, redeem

if TYPE_CHECKING:
    from llmrelay.relay import Relay


def no_account() -> RelayError:
    return RelayError(
        404, "This key belongs to no account.", type="invalid_request_error", code="no_account"
    )


class AccountCustomerRoutes:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.accounts = AccountRoutes(relay)

    async def _account(self, request: Request) -> tuple[str, Account]:
        key = await caller_key(self.relay, request)
        if key.account_id is None:
            raise no_account()
        account = await run_store(self.accounts.store.get, key.account_id)
        return key.id, account

    async def show(self, request: Request) -> Response:
        _, account = await self._account(request)
        return json_response(await self.accounts.object(account))

    async def redeem(self, request: Request) -> Response:
        key_id, account = await self._account(request)
        body = decode_body(await read_body(request), Redeem)
        store = self.accounts.store
        credit = await run_store(lambda: redeem(store, body.code, account.id, f"key:{key_id}"))
        account = await run_store(store.get, account.id)
        shown = await self.accounts.object(account)
        return json_response(Redeemed(credit=credit_object(credit), account=shown))


def account_customer_endpoints(relay: Relay) -> list[Endpoint]:
    routes = AccountCustomerRoutes(relay)
    return [
        Endpoint(
            "GET", "/v1/account", routes.show,
            "The caller's account: its budget or balance, and spend", AccountObject,
            caller="key",
        ),
        Endpoint(
            "POST", "/v1/account/redeem", routes.redeem,
            "Redeem a code into the caller's account's balance", Redeemed,
            caller="key", body=Redeem,
        ),
    ]  # fmt: skip
