"""Invitations named by a random reference: an invitation's link carried its row id,
signed but readable, so whoever held a link read how many invitations the installation
had sent. A new invitation gets a reference of 128 random bits, and its link names that.

Invitations already there keep no reference (NULL, which the unique index allows many
times): their links, naming the id, work until they expire, at most a week on
(services.auth.councils.invitations). The table holds only the invitations of the last
week or so, so the index is built in the ordinary way.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invitations", sa.Column("reference", sa.String(32), nullable=True))
    op.create_index(op.f("ix_invitations_reference"), "invitations", ["reference"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_invitations_reference"), table_name="invitations")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("reference")
