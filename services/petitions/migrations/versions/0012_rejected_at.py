"""When a petition was rejected, on the petition as its other moments are (the public
list of rejected petitions shows it); petitions rejected before take it from their
timeline.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("petitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True))
    # Few rows (rejected petitions only), through the timeline's index on petition_id.
    op.execute(
        "UPDATE petitions SET rejected_at = (SELECT MAX(transitions.at) FROM transitions"
        " WHERE transitions.petition_id = petitions.id AND transitions.to_state = 'rejected')"
        " WHERE state = 'rejected'"
    )


def downgrade() -> None:
    with op.batch_alter_table("petitions", schema=None) as batch_op:
        batch_op.drop_column("rejected_at")
