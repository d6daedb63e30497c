"""`/v1/account/members...`: an account's owner, signed in, manages its members as the
operator does with `/admin/accounts/{id}/members` (the same handlers), for their own account.

Only an `owner` may, with the CSRF token on every change. An owner invites (the one-time
link comes back, to hand over), and never sets another person's password. An owner cannot
change their own role or remove themselves: that is for another owner or the operator, so an
account is never left without the owner who could put it right by mistake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from llmrelay.admin.endpoint import Endpoint
from llmrelay.admin.member_auth import require_role, signed_in
from llmrelay.admin.member_shapes import (
    MemberCreated,
    MemberDeleted,
    MemberInvite,
    MemberList,
    MemberObject,
    MemberPatch,
)
from llmrelay.admin.members import AccountOf, MemberAdminRoutes
from llmrelay.protocol.errors import RelayError
from llmrelay.store.members import MemberStore

if TYPE_CHECKING:
    from llmrelay.relay import Relay


def not_yourself() -> RelayError:
    return RelayError(
        409, "You cannot change your own role or remove yourself: ask another owner or the "
        "operator.", param="member_id", code="own_membership",
    )  # fmt: skip


def owners_account(store: MemberStore) -> AccountOf:
    """The signed-in owner's account id, for `MemberAdminRoutes`; refuses anyone else, and an
    owner's change to their own membership."""

    async def account_of(request: Request) -> str:
        session = await signed_in(store, request)
        require_role(session, "manage members", "owner")
        if request.path_params.get("member_id") == session.member.id:
            raise not_yourself()
        return session.member.account_id

    return account_of


def member_team_endpoints(relay: Relay) -> list[Endpoint]:
    routes = MemberAdminRoutes(relay, owners_account(MemberStore(relay.engine)), MemberInvite)
    many = "/v1/account/members"
    one = many + "/{member_id}"
    member = {"caller": "member"}
    return [
        Endpoint("GET", many, routes.list_members, "The account's members (owners only)",
                 MemberList, **member),
        Endpoint("POST", many, routes.create,
                 "Invite a member (owners only): the one-time link, shown once", MemberCreated,
                 body=MemberInvite, status=201, **member),
        Endpoint("PATCH", one, routes.update, "Change a member's role (owners only)",
                 MemberObject, body=MemberPatch, **member),
        Endpoint("DELETE", one, routes.delete, "Remove a member (owners only; their sessions "
                 "end)", MemberDeleted, **member),
    ]  # fmt: skip
