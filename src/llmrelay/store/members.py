"""Account members at rest: passwords as argon2id hashes, invitations and sessions as SHA-256
digests of tokens that only the person holds.

A password is low-entropy, so it gets a slow, memory-hard hash (argon2id, RFC 9106); an
invitation or a session token carries 256 random bits, so a fast digest is enough and a
lookup stays one indexed query. Blocking calls: run them in worker threads.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from llmrelay.store.schema import account_members, accounts, member_sessions

ROLES = ("owner", "member", "viewer")
INVITE_SECONDS = 7 * 86400
"""How long an invitation link works."""
SESSION_SECONDS = 12 * 3600
"""How long a sign-in lasts: a session ends this long after it began, however busy."""
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
"""argon2 takes any length; a bound keeps a megabyte password from being a cheap attack."""

_hasher = PasswordHasher()  # argon2id, RFC 9106's low-memory parameters


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normal_email(email: str) -> str:
    """Emails compare without case or surrounding spaces: one person, one member row."""
    return email.strip().lower()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so that answering "no" costs as
    long as a wrong password does and timing tells nothing about which emails exist."""
    return _hasher.hash(secrets.token_urlsafe(16))


class MemberExists(Exception):
    pass


class MemberNotFound(Exception):
    pass


class InviteInvalid(Exception):
    """The invitation is unknown, used already, or past its expiry."""


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    account_id: str
    email: str
    role: str
    created_at: float
    has_password: bool
    invite_expires_at: float | None


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in member, as a session cookie finds them."""

    member: Member
    account_name: str
    csrf_token: str
    expires_at: float
    account_disabled: bool = False
    """The operator disabled the account: its members may still read, never change."""


def _member(row: Any) -> Member:
    return Member(
        id=row.id,
        account_id=row.account_id,
        email=row.email,
        role=row.role,
        created_at=row.created_at,
        has_password=row.password_hash is not None,
        invite_expires_at=row.invite_expires_at,
    )


def check_password(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")


class MemberStore:
    def __init__(self, engine: sa.Engine, clock: Any = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def account_name(self, account_id: str) -> str | None:
        """The account's name, or None when there is no such account."""
        query = sa.select(accounts.c.name).where(accounts.c.id == account_id)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def account_limits(self, account_id: str) -> dict[str, Any] | None:
        """The account's model allowlist and limits, which its members' keys stay within."""
        a = accounts.c
        query = sa.select(a.models, a.rpm, a.tpm, a.max_concurrent, a.budget_usd, a.prepaid)
        with self.engine.connect() as connection:
            row = connection.execute(query.where(a.id == account_id)).first()
        return None if row is None else dict(row._mapping)

    def create(
        self, account_id: str, email: str, role: str, password: str | None = None
    ) -> tuple[Member, str | None]:
        """A new member with a password, or with an invitation: then the one-time token,
        which is never stored (only its digest)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        now = self.clock()
        values: dict[str, Any] = {
            "id": "mem_" + secrets.token_hex(8),
            "account_id": account_id,
            "email": normal_email(email),
            "role": role,
            "created_at": now,
        }
        token = None
        if password is not None:
            check_password(password)
            values["password_hash"] = _hasher.hash(password)
        else:
            token = secrets.token_urlsafe(32)
            values["invite_hash"] = digest(token)
            values["invite_expires_at"] = now + INVITE_SECONDS
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(account_members).values(**values))
        except sa.exc.IntegrityError:
            raise MemberExists(f"a member with email {values['email']!r} exists") from None
        return self.get(account_id, values["id"]), token

    def get(self, account_id: str, member_id: str) -> Member:
        c = account_members.c
        query = sa.select(account_members).where(c.id == member_id, c.account_id == account_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise MemberNotFound(f"no member with id {member_id!r}")
        return _member(row)

    def members(self, account_id: str) -> list[Member]:
        c = account_members.c
        query = sa.select(account_members).where(c.account_id == account_id)
        with self.engine.connect() as connection:
            return [_member(row) for row in connection.execute(query.order_by(c.created_at))]

    def set_role(self, account_id: str, member_id: str, role: str) -> Member:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        c = account_members.c
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(account_members)
                .where(c.id == member_id, c.account_id == account_id)
                .values(role=role)
            )
        return self.get(account_id, member_id)

    def remove(self, account_id: str, member_id: str) -> Member:
        """Delete the member and every session of theirs, in one transaction: their next
        request is refused."""
        member = self.get(account_id, member_id)
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(member_sessions).where(member_sessions.c.member_id == member_id)
            )
            connection.execute(sa.delete(account_members).where(account_members.c.id == member_id))
        return member

    def accept_invite(self, token: str, password: str) -> Member:
        """Set the invited member's password and burn the invitation (one use only)."""
        check_password(password)
        c = account_members.c
        password_hash = _hasher.hash(password)
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.update(account_members)
                .where(c.invite_hash == digest(token), c.invite_expires_at > self.clock())
                .values(password_hash=password_hash, invite_hash=None, invite_expires_at=None)
                .returning(c.id, c.account_id)
            ).first()
        if row is None:
            raise InviteInvalid("this invitation is unknown, used, or expired")
        return self.get(row.account_id, row.id)

    def verify(self, email: str, password: str) -> Member | None:
        """The member whose email and password these are, or None; the same work either way
        (a dummy argon2 verification for an unknown email). A hash made with older
        parameters is replaced on success."""
        c = account_members.c
        query = sa.select(account_members).where(c.email == normal_email(email))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        stored = row.password_hash if row is not None else None
        try:
            _hasher.verify(stored or _dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or stored is None:
            return None
        if _hasher.check_needs_rehash(stored):
            with self.engine.begin() as connection:
                connection.execute(
                    sa.update(account_members)
                    .where(c.id == row.id)
                    .values(password_hash=_hasher.hash(password))
                )
        return _member(row)

    def open_session(self, member_id: str) -> tuple[str, str, float]:
        """A new session: (the cookie's token, the CSRF token, when it expires). Only the
        token's digest is stored. Expired sessions are swept on the way."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        expires_at = now + SESSION_SECONDS
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(member_sessions).where(member_sessions.c.expires_at <= now)
            )
            connection.execute(
                sa.insert(member_sessions).values(
                    id_hash=digest(token),
                    member_id=member_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return token, csrf, expires_at

    def session(self, token: str) -> Session | None:
        """The live session of this cookie token, with its member and account; None when
        unknown, expired, or its member or account is gone."""
        s, m = member_sessions.c, account_members.c
        query = (
            sa.select(account_members, accounts.c.name.label("account_name"), s.csrf_token,
                      s.expires_at.label("session_expires_at"),
                      accounts.c.disabled_at.label("account_disabled_at"))
            .select_from(
                member_sessions.join(account_members, m.id == s.member_id).join(
                    accounts, accounts.c.id == m.account_id
                )
            )
            .where(s.id_hash == digest(token), s.expires_at > self.clock())
        )  # fmt: skip
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        disabled = row.account_disabled_at is not None
        return Session(
            _member(row), row.account_name, row.csrf_token, row.session_expires_at, disabled
        )

    def close_session(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(member_sessions).where(member_sessions.c.id_hash == digest(token))
            )
