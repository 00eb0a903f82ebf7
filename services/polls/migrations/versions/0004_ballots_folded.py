"""Ballots are folded themselves: a vote is one row, and its first choices are kept.

Ballots cast before this were counted through tally entries (+1 voter, +1 per option):
the new "ballots" stream starts after the last of them, so none is counted twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BALLOTS_STREAM = "ballots"  # services.polls.tallies.BALLOTS, as of this revision

ballots = sa.table(
    "ballots",
    sa.column("id", sa.Integer()),
    sa.column("poll_id", sa.Integer()),
    sa.column("choices", sa.JSON()),
    sa.column("first_choices", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
watermarks = sa.table(
    "fold_watermarks", sa.column("name", sa.String()), sa.column("last_id", sa.Integer())
)
entries = sa.table(
    "tally_entries",
    sa.column("poll_id", sa.Integer()),
    sa.column("option_id", sa.Integer()),
    sa.column("delta", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.add_column("ballots", sa.Column("first_choices", sa.JSON(), nullable=True))
    op.execute(ballots.update().values(first_choices=ballots.c.choices))
    with op.batch_alter_table("ballots") as batch:
        batch.alter_column("first_choices", existing_type=sa.JSON(), nullable=False)
    op.execute(
        watermarks.insert().from_select(
            ["name", "last_id"],
            sa.select(sa.literal(BALLOTS_STREAM), sa.func.coalesce(sa.func.max(ballots.c.id), 0)),
        )
    )


def downgrade() -> None:
    # Ballots not folded yet become the entries the older code expects, so they count.
    connection = op.get_bind()
    folded_upto = connection.scalar(
        sa.select(watermarks.c.last_id).where(watermarks.c.name == BALLOTS_STREAM)
    )
    unfolded = connection.execute(
        sa.select(ballots.c.poll_id, ballots.c.first_choices, ballots.c.created_at).where(
            ballots.c.id > (folded_upto or 0)
        )
    ).all()
    rows = [
        {"poll_id": poll_id, "option_id": option_id, "delta": 1, "created_at": created_at}
        for poll_id, first_choices, created_at in unfolded
        for option_id in [None, *first_choices]
    ]
    if rows:
        connection.execute(entries.insert(), rows)
    op.execute(watermarks.delete().where(watermarks.c.name == BALLOTS_STREAM))
    with op.batch_alter_table("ballots") as batch:
        batch.drop_column("first_choices")
