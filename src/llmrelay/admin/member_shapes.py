"""Wire shapes of account members and their sessions (`/admin/accounts/{id}/members`,
`/v1/account/members`, `/v1/account/session`, `/v1/account/invite`), typed once for
decoding, encoding and OpenAPI."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from llmrelay.store.members import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS

Role = Literal["owner", "member", "viewer"]
Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Meta(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)]
AnyPassword = Annotated[str, Meta(max_length=MAX_PASSWORD_CHARS)]
"""At sign-in: any string up to the bound, so a short one is just a wrong password."""
Token = Annotated[str, Meta(min_length=1, max_length=200)]


class MemberCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /admin/accounts/{id}/members`: without `password`, an invitation link."""

    email: Email
    role: Role = "member"
    password: Password | None = None


class MemberInvite(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /v1/account/members`: always an invitation (an owner sets no one's password)."""

    email: Email
    role: Role = "member"


class MemberPatch(Struct, forbid_unknown_fields=True, kw_only=True):
    role: Role


class MemberObject(Struct, kw_only=True):
    id: str
    object: Literal["account_member"] = "account_member"
    account_id: str
    email: str
    role: Role
    status: Literal["active", "invited"]
    """`invited` until the invitation is accepted (the member has no password yet)."""
    invite_expires_at: int | None
    created_at: int


class MemberCreated(MemberObject, kw_only=True):
    """A new member; for an invitation, its one-time link and token, shown this once."""

    invite_url: str | None
    invite_token: str | None


class MemberList(Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[MemberObject]


class MemberDeleted(Struct, kw_only=True):
    id: str
    object: Literal["account_member"] = "account_member"
    deleted: bool = True


class SignIn(Struct, forbid_unknown_fields=True, kw_only=True):
    email: Annotated[str, Meta(max_length=320)]
    password: AnyPassword


class InviteAccept(Struct, forbid_unknown_fields=True, kw_only=True):
    """`POST /v1/account/invite`: the invitation's token and the password to set."""

    token: Token
    password: Password


class AccountRef(Struct, kw_only=True):
    id: str
    name: str


class SessionObject(Struct, kw_only=True):
    """Who is signed in, and the CSRF token to echo in `x-csrf-token` on every change."""

    object: Literal["member_session"] = "member_session"
    member: MemberObject
    account: AccountRef
    csrf_token: str
    expires_at: int


class SignedOut(Struct, kw_only=True):
    object: Literal["member_session"] = "member_session"
    signed_out: bool = True
