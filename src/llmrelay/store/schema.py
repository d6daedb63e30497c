"""The tables, described once for SQLAlchemy Core. Migrations create them; code queries them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

settings_table = sa.Table(
    "relay_settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

key_generation = sa.Table(
    "key_generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.BigInteger, nullable=False),
)
"""One row (id 1) that every key change moves, in the change's own transaction: replicas on
other machines poll it to know when to reload their key table (`store/key_events.py`)."""

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("models", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("budget_usd", sa.Float, nullable=True),
    sa.Column("budget_period", sa.String(16), nullable=False, server_default="total"),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("tpm", sa.Integer, nullable=True),
    sa.Column("max_concurrent", sa.Integer, nullable=True),
    sa.Column("disabled_at", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=True),
    sa.Column("allowed_ips", sa.JSON, nullable=True),
    sa.Column("key_metadata", sa.JSON, nullable=True),
    sa.Column("account_id", sa.String(40), nullable=True, index=True),
    sa.Column("created_by", sa.String(40), nullable=True),  # the member who made it, if one
    sa.Column("disabled_by", sa.String(40), nullable=True),  # the member who disabled it, if one
)

usage_records = sa.Table(
    "usage_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("key_id", sa.String(40), nullable=True, index=True),
    sa.Column("key_name", sa.String(200), nullable=True),
    sa.Column("model", sa.String(200), nullable=True, index=True),
    sa.Column("provider", sa.String(200), nullable=True),
    sa.Column("upstream_model", sa.String(200), nullable=True),
    sa.Column("stream", sa.Boolean, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error_code", sa.String(100), nullable=True),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("total_tokens", sa.Integer, nullable=False),
    sa.Column("cached_tokens", sa.Integer, nullable=True),
    sa.Column("reasoning_tokens", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("ttft_ms", sa.Float, nullable=True),
    sa.Column("client_disconnected", sa.Boolean, nullable=False),
    sa.Column("usage_estimated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("endpoint", sa.String(32), nullable=False, server_default="chat", index=True),
    sa.Column("client_ip", sa.String(64), nullable=True),
    sa.Column("account_id", sa.String(40), nullable=True),
    sa.Index("ix_usage_records_key_created", "key_id", "created_at"),
    sa.Index("ix_usage_records_account_created", "account_id", "created_at"),
)

stored_responses = sa.Table(
    "stored_responses",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(40), nullable=False, index=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("previous_id", sa.String(64), nullable=True),
    sa.Column("input_items", sa.JSON, nullable=False),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)
"""Responses kept for `previous_response_id` and `GET /v1/responses/{id}`: each row holds its
request's own input items and the final response object (output items, usage, status); a
conversation is the chain of rows through `previous_id`."""

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("models", sa.JSON, nullable=True),
    sa.Column("rpm", sa.Integer, nullable=True),
    sa.Column("tpm", sa.Integer, nullable=True),
    sa.Column("max_concurrent", sa.Integer, nullable=True),
    sa.Column("budget_usd", sa.Float, nullable=True),
    sa.Column("budget_period", sa.String(16), nullable=False, server_default="total"),
    sa.Column("prepaid", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=True),
    sa.Column("disabled_at", sa.Float, nullable=True),
)
"""A team or a customer: its keys share its limits and either a budget per period or, when
`prepaid`, a balance: every credit in `account_credits` less everything its keys spent."""

account_credits = sa.Table(
    "account_credits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(40), nullable=False, index=True),
    sa.Column("amount_nano", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(400), nullable=False),
    sa.Column("note", sa.String(500), nullable=True),
    sa.Column("code_id", sa.String(40), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
"""A prepaid account's balance history: each top-up, redemption and adjustment (nano-USD,
negative for a debit) with who made it (`admin`, `member:<id>`, `key:<id>`)."""

redemption_codes = sa.Table(
    "redemption_codes",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("code_prefix", sa.String(16), nullable=False),
    sa.Column("amount_nano", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("redeemed_at", sa.Float, nullable=True),
    sa.Column("account_id", sa.String(40), nullable=True),
    sa.Column("created_by", sa.String(400), nullable=False),
)
"""Single-use codes worth `amount_nano`, stored as SHA-256 digests; `account_id` is the
account that redeemed one."""

account_members = sa.Table(
    "account_members",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("account_id", sa.String(40), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("invite_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("invite_expires_at", sa.Float, nullable=True),
    sa.Column("disabled_at", sa.Float, nullable=True),
)
"""People who sign in to the console for an account (`owner`, `member`, `viewer`); a
password as an argon2id hash, or an invitation's one-time token as a SHA-256 digest."""

member_sessions = sa.Table(
    "member_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.String(40), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)
"""Signed-in members: the session cookie's SHA-256 digest, and the CSRF token every
state-changing call must echo."""
