"""How far a notification to a long list of signers got before a failure.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("handed_over_upto", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_notifications", schema=None) as batch_op:
        batch_op.drop_column("handed_over_upto")
