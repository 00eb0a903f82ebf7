"""Verifications keep no address: the column that once held it goes.

Nothing has written `email_verifications.email` for a while (the address goes only
into the email's outbox row; the verification keeps its keyed hash), settling a request
emptied it, and every request is deleted once its link has expired, a day on. The
column goes, and with it whatever a row from before still held.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_verifications") as batch:
        batch.drop_column("email")


def downgrade() -> None:
    op.add_column("email_verifications", sa.Column("email", sa.String(320), nullable=True))
