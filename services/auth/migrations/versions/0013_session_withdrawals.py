"""Access tokens withdrawn per session: signing out takes back that session's tokens,
not the person's tokens on every other device.

A new, small table (a row lives at most as long as an access token), so its index is
built with it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_withdrawals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sid", sa.String(32), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(op.f("ix_session_withdrawals_until"), "session_withdrawals", ["until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_session_withdrawals_until"), table_name="session_withdrawals")
    op.drop_table("session_withdrawals")
