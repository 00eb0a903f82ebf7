"""A tally entry names the ballot whose change it is, so that its voter sees the change
before the aggregator folds it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tally_entries") as batch:
        batch.add_column(sa.Column("ballot_id", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_tally_entries_ballot_id"), ["ballot_id"])


def downgrade() -> None:
    with op.batch_alter_table("tally_entries") as batch:
        batch.drop_index(op.f("ix_tally_entries_ballot_id"))
        batch.drop_column("ballot_id")
