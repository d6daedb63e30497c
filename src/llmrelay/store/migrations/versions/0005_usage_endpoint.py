"""Record which door (client protocol) each request came in by.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as table:
        table.add_column(
            sa.Column("endpoint", sa.String(32), nullable=False, server_default="chat")
        )
        table.create_index("ix_usage_records_endpoint", ["endpoint"])


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as table:
        table.drop_index("ix_usage_records_endpoint")
        table.drop_column("endpoint")
