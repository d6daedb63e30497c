"""What the account tests share: accounts and keys made through the admin API, a race of
requests spread over several keys and relays, and the ledger's word on an account's spend."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import openai
import sqlalchemy as sa

from tests.conftest import ADMIN_KEY, RunningRelay, wait_until
from tests.e2e.races import ASK

ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


def chat(relay: RunningRelay, key: str, model: str = "priced") -> str:
    client = openai.OpenAI(base_url=relay.base_url, api_key=key, max_retries=0)
    try:
        client.chat.completions.create(model=model, messages=ASK, max_tokens=5)
    except openai.APIStatusError as error:
        return f"{error.status_code} {error.code}: {error.message}"
    return "ok"


def spend_until_refused(relays: list[RunningRelay], key: str) -> int:
    """Requests one after another (taking the relays in turn) until the money runs out: how
    many went through."""
    served = 0
    while chat(relays[served % len(relays)], key) == "ok":
        served += 1
    return served


def admin(relay: RunningRelay, method: str, path: str, **body: Any) -> httpx.Response:
    return httpx.request(method, relay.url + path, json=body or None, headers=ADMIN, timeout=30)


def new_account(relay: RunningRelay, **fields: Any) -> dict[str, Any]:
    response = admin(relay, "POST", "/admin/accounts", name="a-" + secrets.token_hex(4), **fields)
    assert response.status_code == 201, response.text
    return response.json()


def account_key(relay: RunningRelay, account_id: str, **fields: Any) -> str:
    name = "k-" + secrets.token_hex(4)
    response = admin(relay, "POST", "/admin/keys", name=name, account_id=account_id, **fields)
    assert response.status_code == 201, response.text
    assert response.json()["account_id"] == account_id
    return response.json()["key"]


def account_spend(database_url: str, account_id: str, rows: int) -> float:
    """The ledger's sum for the account, once it holds `rows` of its records (refused
    requests included: each has its row)."""
    engine = sa.create_engine(database_url)
    query = sa.text(
        "SELECT count(*), coalesce(sum(cost_usd), 0) FROM usage_records WHERE account_id = :a"
    )
    try:

        def settled() -> float | None:
            with engine.connect() as connection:
                count, spend = connection.execute(query, {"a": account_id}).one()
            return float(spend) if count >= rows else None

        return wait_until(settled, 30)
    finally:
        engine.dispose()


def sqlite_url(relay: RunningRelay) -> str:
    return f"sqlite:///{relay.data_dir / 'llmrelay.db'}"
