"""Access tokens withdrawn before they expire: deleted accounts, reset passwords, roles
taken away.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_withdrawals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(op.f("ix_access_withdrawals_at"), "access_withdrawals", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_access_withdrawals_at"), table_name="access_withdrawals")
    op.drop_table("access_withdrawals")
