"""Accounts: teams and customers owning keys, with a budget or a prepaid balance, members,
sessions and redemption codes; each key and ledger row names its account.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
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
    op.create_table(
        "account_credits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("amount_nano", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(400), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("code_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_account_credits_account_id", "account_credits", ["account_id"])
    op.create_table(
        "redemption_codes",
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
    op.create_table(
        "account_members",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("invite_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("invite_expires_at", sa.Float, nullable=True),
        sa.Column("disabled_at", sa.Float, nullable=True),
    )
    op.create_index("ix_account_members_account_id", "account_members", ["account_id"])
    op.create_table(
        "member_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(40), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_member_sessions_member_id", "member_sessions", ["member_id"])
    op.create_index("ix_member_sessions_expires_at", "member_sessions", ["expires_at"])
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("account_id", sa.String(40), nullable=True))
        table.add_column(sa.Column("created_by", sa.String(40), nullable=True))
        table.create_index("ix_api_keys_account_id", ["account_id"])
    with op.batch_alter_table("usage_records") as table:
        table.add_column(sa.Column("account_id", sa.String(40), nullable=True))
        table.create_index("ix_usage_records_account_created", ["account_id", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as table:
        table.drop_index("ix_usage_records_account_created")
        table.drop_column("account_id")
    with op.batch_alter_table("api_keys") as table:
        table.drop_index("ix_api_keys_account_id")
        table.drop_column("created_by")
        table.drop_column("account_id")
    for name in ("member_sessions", "account_members", "redemption_codes", "account_credits"):
        op.drop_table(name)
    op.drop_table("accounts")
