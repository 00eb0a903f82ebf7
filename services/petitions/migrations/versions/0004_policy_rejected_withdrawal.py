"""Council policy: the public list of rejected petitions, and signature withdrawal.

Also makes pending_notifications.created_at NOT NULL, as the model always had it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 18:09:06.198777
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("council_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rejected_public", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("allow_withdrawal", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("pending_notifications", schema=None) as batch_op:
        batch_op.alter_column("created_at", existing_type=sa.DATETIME(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_notifications", schema=None) as batch_op:
        batch_op.alter_column("created_at", existing_type=sa.DATETIME(), nullable=True)

    with op.batch_alter_table("council_policies", schema=None) as batch_op:
        batch_op.drop_column("allow_withdrawal")
        batch_op.drop_column("rejected_public")
