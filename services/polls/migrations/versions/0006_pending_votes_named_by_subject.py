"""A pending vote keeps no verification id: it is written before auth is asked (so
that a link pressed at once finds it), and polls names the verification to auth by
the pending vote's id, the verification's subject.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_votes") as batch:
        batch.drop_column("verification_id")


def downgrade() -> None:
    with op.batch_alter_table("pending_votes") as batch:
        batch.add_column(sa.Column("verification_id", sa.String(64), nullable=True))
