"""The caller's account: `GET /v1/account` (its budget or balance, and spend) and
`POST /v1/account/redeem` (a redemption code credits its balance), with an API key of the
account or as a signed-in member of it.

A request that sends a key (`Authorization: Bearer` or `x-api-key`) is the key's, whatever
cookie rides along; one that sends none is a member's, by the session cookie. Redeeming is
`store.accounts.redeem` for both; the balance history says who: `key:<id>` or `member:<id>`.
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
from llmrelay.admin.member_auth import COOKIE, require_role, signed_in
from llmrelay.protocol.errors import RelayError
from llmrelay.store.accounts import Account, redeem
from llmrelay.store.members import MemberStore
from llmrelay.wire.credentials import api_key_or_bearer

if TYPE_CHECKING:
    from llmrelay.relay import Relay

REDEEMERS = ("owner", "member")
"""A `viewer` reads the account and changes nothing, a balance included."""


def no_account() -> RelayError:
    return RelayError(
        404, "This key belongs to no account.", type="invalid_request_error", code="no_account"
    )


class AccountCustomerRoutes:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.accounts = AccountRoutes(relay)
        self.members = MemberStore(relay.engine)

    async def _by_key(self, request: Request) -> tuple[str, str]:
        key = await caller_key(self.relay, request)
        if key.account_id is None:
            raise no_account()
        return f"key:{key.id}", key.account_id

    async def _by_session(self, request: Request, *roles: str) -> tuple[str, str]:
        session = await signed_in(self.members, request)
        if roles:
            require_role(session, "redeem codes", *roles)
        return f"member:{session.member.id}", session.member.account_id

    async def _caller(self, request: Request, *roles: str) -> tuple[str, Account]:
        """Who calls (`key:<id>` or `member:<id>`) and their account; `roles` bind members."""
        by_session = api_key_or_bearer(request.scope) is None and COOKIE in request.cookies
        if by_session:
            actor, account_id = await self._by_session(request, *roles)
        else:
            actor, account_id = await self._by_key(request)
        return actor, await run_store(self.accounts.store.get, account_id)

    async def show(self, request: Request) -> Response:
        _, account = await self._caller(request)
        return json_response(await self.accounts.object(account))

    async def redeem(self, request: Request) -> Response:
        actor, account = await self._caller(request, *REDEEMERS)
        body = decode_body(await read_body(request), Redeem)
        store = self.accounts.store
        credit = await run_store(lambda: redeem(store, body.code, account.id, actor))
        account = await run_store(store.get, account.id)
        shown = await self.accounts.object(account)
        return json_response(Redeemed(credit=credit_object(credit), account=shown))


def account_customer_endpoints(relay: Relay) -> list[Endpoint]:
    routes = AccountCustomerRoutes(relay)
    return [
        Endpoint(
            "GET", "/v1/account", routes.show,
            "The caller's account: its budget or balance, and spend", AccountObject,
            caller="key_or_member",
        ),
        Endpoint(
            "POST", "/v1/account/redeem", routes.redeem,
            "Redeem a code into the caller's account's balance (members: owner or member)",
            Redeemed, caller="key_or_member", body=Redeem,
        ),
    ]  # fmt: skip
