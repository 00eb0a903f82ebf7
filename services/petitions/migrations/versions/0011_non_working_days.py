"""A council's non-working weekdays (public holidays), skipped by its working-day periods.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("council_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("non_working_days", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("council_policies", schema=None) as batch_op:
        batch_op.drop_column("non_working_days")
