"""What the member tests share: an account row, members made through the admin API, and an
httpx client signed in as a member (its cookie kept, its CSRF token sent on every call)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import sqlalchemy as sa

from tests.conftest import RunningRelay

PASSWORD = "correct horse battery staple"


def database(relay: RunningRelay) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{relay.data_dir / 'llmrelay.db'}")


def sql(relay: RunningRelay, statement: str, **values: Any) -> None:
    engine = database(relay)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement), values)
    finally:
        engine.dispose()


def new_account(relay: RunningRelay, **limits: Any) -> str:
    """An account row, as the accounts API would make it (that API is not what is tested)."""
    account_id = "acct_" + secrets.token_hex(6)
    row = {"rpm": None, "tpm": None, "max_concurrent": None, "budget_usd": None, **limits}
    sql(
        relay,
        "INSERT INTO accounts (id, name, rpm, tpm, max_concurrent, budget_usd, budget_period,"
        " prepaid, created_at) VALUES (:id, :name, :rpm, :tpm, :max_concurrent, :budget_usd,"
        " 'total', 0, :now)",
        id=account_id,
        name="team-" + account_id,
        now=time.time(),
        **row,
    )
    return account_id


def email() -> str:
    return f"m-{secrets.token_hex(5)}@example.com"


def add_member(
    admin: httpx.Client, account_id: str, role: str = "member", password: str | None = PASSWORD
) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email(), "role": role}
    if password is not None:
        body["password"] = password
    response = admin.post(f"/admin/accounts/{account_id}/members", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def sign_in(relay: RunningRelay, address: str, password: str = PASSWORD) -> httpx.Client:
    """A client signed in as `address`, sending the session's CSRF token on every call."""
    client = httpx.Client(base_url=relay.url, timeout=30)
    response = client.post("/v1/account/session", json={"email": address, "password": password})
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = response.json()["csrf_token"]
    return client


def member_client(relay: RunningRelay, admin: httpx.Client, account_id: str, role: str):
    """A new member of the account with `role`, and a client signed in as them."""
    member = add_member(admin, account_id, role)
    return member, sign_in(relay, member["email"])
