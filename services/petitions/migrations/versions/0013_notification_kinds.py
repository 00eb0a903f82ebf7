"""What a notification tells: the council's response (as every notification so far) or,
to the author alone, that the petition was approved, rejected, reached its threshold,
closed, forwarded as an ordinary appeal or answered.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="response")
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_notifications", schema=None) as batch_op:
        batch_op.drop_column("kind")
