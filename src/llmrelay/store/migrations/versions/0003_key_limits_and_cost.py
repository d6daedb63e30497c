"""Keys gain limits, a budget, an expiry and metadata; ledger rows gain their cost.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY_COLUMNS = (
    ("budget_usd", sa.Float, None),
    ("budget_period", sa.String(16), "total"),
    ("expires_at", sa.Float, None),
    ("rpm", sa.Integer, None),
    ("tpm", sa.Integer, None),
    ("max_concurrent", sa.Integer, None),
    ("disabled_at", sa.Float, None),
    ("updated_at", sa.Float, None),
)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        for name, kind, default in KEY_COLUMNS:
            table.add_column(
                sa.Column(
                    name,
                    kind,
                    nullable=default is None,
                    server_default=default,
                )
            )
        table.add_column(sa.Column("allowed_ips", sa.JSON, nullable=True))
        table.add_column(sa.Column("key_metadata", sa.JSON, nullable=True))
    with op.batch_alter_table("usage_records") as table:
        table.add_column(sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"))
    op.create_index("ix_usage_records_key_created", "usage_records", ["key_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_usage_records_key_created", "usage_records")
    with op.batch_alter_table("usage_records") as table:
        table.drop_column("cost_usd")
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("key_metadata")
        table.drop_column("allowed_ips")
        for name, _kind, _default in reversed(KEY_COLUMNS):
            table.drop_column(name)
