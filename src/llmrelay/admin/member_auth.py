"""Members signing in to the console: `/v1/account/session` (sign in, who am I, sign out) and
`/v1/account/invite` (accept an invitation), and `signed_in`, which every member route calls.

The session lives in an `HttpOnly; SameSite=Strict` cookie (`Secure` when the request came
over HTTPS), so page scripts cannot read it and other sites cannot send it. Every call that
changes something must also echo the session's CSRF token in `x-csrf-token`: a forged
request carries the cookie at most, never the token.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from llmrelay.admin.endpoint import Endpoint, json_response, read_body
from llmrelay.admin.key_bodies import decode_body
from llmrelay.admin.login_throttle import LoginThrottle
from llmrelay.admin.member_shapes import (
    AccountRef,
    InviteAccept,
    MemberObject,
    SessionObject,
    SignedOut,
    SignIn,
)
from llmrelay.protocol.errors import RelayError, invalid_request
from llmrelay.store.members import (
    SESSION_SECONDS,
    InviteInvalid,
    Member,
    MemberStore,
    Session,
)
from llmrelay.wire.forwarded import came_over_https, client_address

if TYPE_CHECKING:
    from llmrelay.relay import Relay

COOKIE = "llmrelay_session"
CSRF_HEADER = "x-csrf-token"
SESSION_PATH = "/v1/account/session"
INVITE_PATH = "/v1/account/invite"
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def member_object(member: Member) -> MemberObject:
    expires = member.invite_expires_at
    return MemberObject(
        id=member.id,
        account_id=member.account_id,
        email=member.email,
        role=member.role,  # type: ignore[arg-type]
        status="active" if member.has_password else "invited",
        invite_expires_at=None if expires is None else int(expires),
        created_at=int(member.created_at),
    )


def not_signed_in() -> RelayError:
    return RelayError(
        401, "Sign in as an account member first.", type="authentication_error",
        code="not_signed_in",
    )  # fmt: skip


def role_forbidden(role: str, action: str) -> RelayError:
    return RelayError(
        403, f"A member with role '{role}' cannot {action}.", type="permission_error",
        code="role_forbidden",
    )  # fmt: skip


def require_role(session: Session, action: str, *roles: str) -> None:
    if session.member.role not in roles:
        raise role_forbidden(session.member.role, action)


async def signed_in(store: MemberStore, request: Request) -> Session:
    """The caller's live session (401 without one); for a call that changes something, only
    with the session's CSRF token in `x-csrf-token` (403 otherwise)."""
    token = request.cookies.get(COOKIE)
    session = None if not token else await asyncio.to_thread(store.session, token)
    if session is None:
        raise not_signed_in()
    if request.method in CHANGING:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise RelayError(
                403, f"Missing or wrong '{CSRF_HEADER}' header: send the csrf_token the "
                "sign-in returned.", type="permission_error", code="csrf_failed",
            )  # fmt: skip
        if session.account_disabled and request.url.path != SESSION_PATH:
            raise RelayError(
                403, f"Account {session.account_name!r} has been disabled: it can be read, not "
                "changed. Ask the operator.", type="permission_error", code="account_disabled",
            )  # fmt: skip
    return session


def json_only(request: Request) -> None:
    """Sign-in and invitations take JSON only: a form on another site can post text that
    reads as JSON, but cannot send `application/json` without the relay's consent (CORS),
    so it cannot sign a browser in to someone else's account."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise RelayError(
            415, "Send the body as JSON, with 'Content-Type: application/json'.",
            code="unsupported_media_type",
        )  # fmt: skip


def session_object(session: Session) -> SessionObject:
    return SessionObject(
        member=member_object(session.member),
        account=AccountRef(id=session.member.account_id, name=session.account_name),
        csrf_token=session.csrf_token,
        expires_at=int(session.expires_at),
    )


class SessionRoutes:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.store = MemberStore(relay.engine)
        self.throttle = LoginThrottle(relay.gate.limits)

    def _with_cookie(self, request: Request, body: SessionObject, token: str) -> Response:
        response = json_response(body)
        response.set_cookie(
            COOKIE, token, max_age=SESSION_SECONDS, path="/", httponly=True, samesite="strict",
            secure=came_over_https(request.scope, self.relay.proxies),
        )  # fmt: skip
        return response

    async def _open(self, request: Request, member: Member) -> Response:
        token, _csrf, _expires = await asyncio.to_thread(self.store.open_session, member.id)
        session = await asyncio.to_thread(self.store.session, token)
        if session is None:  # its account was deleted meanwhile
            raise not_signed_in()
        return self._with_cookie(request, session_object(session), token)

    async def sign_in(self, request: Request) -> Response:
        json_only(request)
        body = decode_body(await read_body(request), SignIn)
        address = client_address(request.scope, self.relay.proxies)
        attempt = await self.throttle.attempt(body.email, address)
        member = await asyncio.to_thread(self.store.verify, body.email, body.password)
        if member is None:
            raise RelayError(
                401, "Wrong email or password.", type="authentication_error",
                code="invalid_credentials",
            )  # fmt: skip
        await self.throttle.succeeded(attempt)
        return await self._open(request, member)

    async def who_am_i(self, request: Request) -> Response:
        return json_response(session_object(await signed_in(self.store, request)))

    async def sign_out(self, request: Request) -> Response:
        await signed_in(self.store, request)
        await asyncio.to_thread(self.store.close_session, request.cookies[COOKIE])
        response = json_response(SignedOut())
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def accept_invite(self, request: Request) -> Response:
        json_only(request)
        body = decode_body(await read_body(request), InviteAccept)
        try:
            member = await asyncio.to_thread(self.store.accept_invite, body.token, body.password)
        except InviteInvalid:
            raise invalid_request(
                "This invitation link is unknown, used already, or expired: ask for a new one.",
                param="token", code="invite_invalid",
            ) from None  # fmt: skip
        return await self._open(request, member)


def session_endpoints(relay: Relay) -> list[Endpoint]:
    routes = SessionRoutes(relay)
    return [
        Endpoint(
            "POST", SESSION_PATH, routes.sign_in,
            "Sign in as an account member: sets the session cookie, returns the CSRF token",
            SessionObject, caller="member", body=SignIn,
        ),
        Endpoint(
            "GET", SESSION_PATH, routes.who_am_i, "The signed-in member, role and account",
            SessionObject, caller="member",
        ),
        Endpoint(
            "DELETE", SESSION_PATH, routes.sign_out, "Sign out (ends the session)", SignedOut,
            caller="member",
        ),
        Endpoint(
            "POST", INVITE_PATH, routes.accept_invite,
            "Accept an invitation: set the password, sign in (the link works once)",
            SessionObject, caller="member", body=InviteAccept,
        ),
    ]  # fmt: skip
