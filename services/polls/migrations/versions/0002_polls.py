"""Polls, options, ballots, pending votes and tallies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:35:27.124618
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "council_policies",
        sa.Column("council", sa.String(length=64), nullable=False),
        sa.Column("widget_origins", sa.JSON(), nullable=False),
        sa.Column("block_disposable_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("council", name=op.f("pk_council_policies")),
    )
    op.create_table(
        "fold_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_fold_watermarks")),
    )
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("council", sa.String(length=64), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("max_choices", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("results_visibility", sa.String(length=16), nullable=False),
        sa.Column("allow_change", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
    )
    with op.batch_alter_table("polls", schema=None) as batch_op:
        batch_op.create_index("ix_polls_council_state", ["council", "state", "id"], unique=False)
        batch_op.create_index("ix_polls_state_closes", ["state", "closes_at"], unique=False)

    op.create_table(
        "tally_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=True),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tally_entries")),
    )
    op.create_table(
        "ballots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("voter_hash", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], name=op.f("fk_ballots_poll_id_polls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballots")),
        sa.UniqueConstraint("poll_id", "user_id", name=op.f("uq_ballots_poll_id_user_id")),
        sa.UniqueConstraint("poll_id", "voter_hash", name=op.f("uq_ballots_poll_id_voter_hash")),
        sa.UniqueConstraint("receipt", name=op.f("uq_ballots_receipt")),
    )
    op.create_table(
        "options",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], name=op.f("fk_options_poll_id_polls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_options")),
    )
    with op.batch_alter_table("options", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_options_poll_id"), ["poll_id"], unique=False)

    op.create_table(
        "pending_votes",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("verification_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("receipt", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["poll_id"], ["polls.id"], name=op.f("fk_pending_votes_poll_id_polls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_votes")),
    )
    with op.batch_alter_table("pending_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_votes_poll_id"), ["poll_id"], unique=False)
        batch_op.create_index(
            "ix_pending_votes_status_expires", ["status", "expires_at"], unique=False
        )

    op.create_table(
        "poll_tallies",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("voters", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["poll_id"], ["polls.id"], name=op.f("fk_poll_tallies_poll_id_polls")
        ),
        sa.PrimaryKeyConstraint("poll_id", name=op.f("pk_poll_tallies")),
    )
    op.create_table(
        "option_tallies",
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["option_id"], ["options.id"], name=op.f("fk_option_tallies_option_id_options")
        ),
        sa.ForeignKeyConstraint(
            ["poll_id"], ["polls.id"], name=op.f("fk_option_tallies_poll_id_polls")
        ),
        sa.PrimaryKeyConstraint("option_id", name=op.f("pk_option_tallies")),
    )
    with op.batch_alter_table("option_tallies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_option_tallies_poll_id"), ["poll_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("option_tallies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_option_tallies_poll_id"))

    op.drop_table("option_tallies")
    op.drop_table("poll_tallies")
    with op.batch_alter_table("pending_votes", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_votes_status_expires")
        batch_op.drop_index(batch_op.f("ix_pending_votes_poll_id"))

    op.drop_table("pending_votes")
    with op.batch_alter_table("options", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_options_poll_id"))

    op.drop_table("options")
    op.drop_table("ballots")
    op.drop_table("tally_entries")
    with op.batch_alter_table("polls", schema=None) as batch_op:
        batch_op.drop_index("ix_polls_state_closes")
        batch_op.drop_index("ix_polls_council_state")

    op.drop_table("polls")
    op.drop_table("fold_watermarks")
    op.drop_table("council_policies")
