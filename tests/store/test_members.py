"""Members at rest: what the database holds of passwords, invitations and sessions is never
what a person types or holds, and old password hashes are replaced on the next sign-in."""

from __future__ import annotations

import time

import sqlalchemy as sa
from argon2 import PasswordHasher

from llmrelay.store.members import MemberStore, digest
from llmrelay.store.schema import account_members, accounts, member_sessions

PASSWORD = "correct horse battery staple"


def _store(engine: sa.Engine) -> MemberStore:
    with engine.begin() as connection:
        connection.execute(
            sa.insert(accounts).values(id="acct_1", name="team", created_at=time.time())
        )
    return MemberStore(engine)


def _row(engine: sa.Engine, table: sa.Table) -> dict:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table)).first()._mapping)


def test_only_hashes_and_digests_are_stored(engine: sa.Engine) -> None:
    store = _store(engine)
    member, token = store.create("acct_1", " Ada@Example.com ", "owner")
    row = _row(engine, account_members)
    assert row["email"] == "ada@example.com" and row["password_hash"] is None
    assert row["invite_hash"] == digest(token) and token not in str(row)

    store.accept_invite(token, PASSWORD)
    row = _row(engine, account_members)
    assert row["password_hash"].startswith("$argon2id$") and row["invite_hash"] is None

    session_token, csrf, _ = store.open_session(member.id)
    session = _row(engine, member_sessions)
    assert session["id_hash"] == digest(session_token) and session["csrf_token"] == csrf
    assert store.session(session_token).member.id == member.id
    store.close_session(session_token)
    assert store.session(session_token) is None


def test_a_hash_with_old_parameters_is_replaced_on_sign_in(engine: sa.Engine) -> None:
    store = _store(engine)
    member, _ = store.create("acct_1", "ada@example.com", "member", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with engine.begin() as connection:
        connection.execute(sa.update(account_members).values(password_hash=weak))
    assert store.verify("ADA@example.com", PASSWORD).id == member.id
    assert _row(engine, account_members)["password_hash"] != weak
    assert store.verify("ada@example.com", "wrong") is None
    assert store.verify("nobody@example.com", PASSWORD) is None
