"""`/admin/accounts/{id}/members...` (admin key): add a member with a password or a one-time
invitation link, list them, change a role, remove one (their sessions end with them).

`MemberAdminRoutes` takes how a request names its account, so an owner's routes
(admin/member_team.py) are these same handlers with the account taken from the session.

The invitation link is `<relay>/console/#/invite/<token>`: the token rides in the fragment,
which browsers never send, so it reaches no server log and no `Referer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, json_response, read_body
from llmrelay.admin.key_bodies import decode_body
from llmrelay.admin.member_auth import member_object
from llmrelay.admin.member_shapes import (
    MemberCreate,
    MemberCreated,
    MemberDeleted,
    MemberList,
    MemberObject,
    MemberPatch,
)
from llmrelay.protocol.errors import RelayError
from llmrelay.store.members import MemberExists, MemberNotFound, MemberStore
from llmrelay.wire.forwarded import came_over_https

if TYPE_CHECKING:
    from llmrelay.relay import Relay

INVITE_FRAGMENT = "/console/#/invite/"
AccountOf = Callable[[Request], Awaitable[str]]
"""The id of the account a request's members belong to, once the caller may manage them."""


def account_not_found(account_id: str) -> RelayError:
    return RelayError(
        404, f"No account with id {account_id!r}.", param="id", code="account_not_found"
    )


def invite_url(request: Request, relay: Relay, token: str) -> str:
    """The link as the operator reached the relay (its Host, and HTTPS behind a trusted
    proxy that says so): the address the invited person can reach too, as a rule."""
    scheme = "https" if came_over_https(request.scope, relay.proxies) else "http"
    host = request.headers.get("host") or request.url.netloc
    return f"{scheme}://{host}{INVITE_FRAGMENT}{token}"


class MemberAdminRoutes:
    def __init__(
        self, relay: Relay, account_of: AccountOf | None = None, create_body: type = MemberCreate
    ) -> None:
        self.relay = relay
        self.store = MemberStore(relay.engine)
        self._account = account_of or self._path_account
        self.create_body = create_body

    async def _path_account(self, request: Request) -> str:
        account_id = request.path_params["id"]
        if await asyncio.to_thread(self.store.account_name, account_id) is None:
            raise account_not_found(account_id)
        return account_id

    async def _run(self, operation: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(operation, *args)
        except MemberNotFound:
            raise RelayError(
                404, f"No member with id {args[1]!r} in this account.", param="member_id",
                code="member_not_found",
            ) from None  # fmt: skip
        except MemberExists as exc:
            raise RelayError(
                409, f"{str(exc).capitalize()}.", param="email", code="member_exists"
            ) from None

    async def create(self, request: Request) -> Response:
        account_id = await self._account(request)
        body = decode_body(await read_body(request), self.create_body)
        password = getattr(body, "password", None)
        member, token = await self._run(
            self.store.create, account_id, body.email, body.role, password
        )
        link = None if token is None else invite_url(request, self.relay, token)
        fields = {f: getattr(member_object(member), f) for f in MemberObject.__struct_fields__}
        return json_response(MemberCreated(**fields, invite_url=link, invite_token=token), 201)

    async def list_members(self, request: Request) -> Response:
        members = await self._run(self.store.members, await self._account(request))
        return json_response(MemberList(data=[member_object(m) for m in members]))

    async def update(self, request: Request) -> Response:
        account_id = await self._account(request)
        body = decode_body(await read_body(request), MemberPatch)
        member_id = request.path_params["member_id"]
        member = await self._run(self.store.set_role, account_id, member_id, body.role)
        return json_response(member_object(member))

    async def delete(self, request: Request) -> Response:
        account_id = await self._account(request)
        member_id = request.path_params["member_id"]
        member = await self._run(self.store.remove, account_id, member_id)
        return json_response(MemberDeleted(id=member.id))


def member_admin_endpoints(relay: Relay) -> list[Endpoint]:
    routes = MemberAdminRoutes(relay)
    many = "/admin/accounts/{id}/members"
    one = many + "/{member_id}"
    return [
        Endpoint(
            "POST", many, routes.create,
            "Add a member: with a password, or without for a one-time invitation link",
            MemberCreated, body=MemberCreate, status=201,
        ),
        Endpoint("GET", many, routes.list_members, "List an account's members", MemberList),
        Endpoint("PATCH", one, routes.update, "Change a member's role", MemberObject,
                 body=MemberPatch),
        Endpoint("DELETE", one, routes.delete, "Remove a member (their sessions end)",
                 MemberDeleted),
    ]  # fmt: skip
