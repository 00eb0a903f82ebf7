"""Petitions: council policies, petitions, signatures, counts, timeline, responses.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 16:57:55.922604
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
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("collection_days", sa.Integer(), nullable=False),
        sa.Column("signer_verification", sa.String(length=16), nullable=False),
        sa.Column("author_verification", sa.String(length=16), nullable=False),
        sa.Column("moderation_days", sa.Integer(), nullable=False),
        sa.Column("response_days", sa.Integer(), nullable=False),
        sa.Column("signer_names_public", sa.Boolean(), nullable=False),
        sa.Column("on_failure", sa.String(length=16), nullable=False),
        sa.Column("rejection_reasons", sa.JSON(), nullable=False),
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
        "petitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("council", sa.String(length=64), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moderation_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=32), nullable=True),
        sa.Column("rejection_explanation", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_petitions")),
    )
    with op.batch_alter_table("petitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_petitions_author_id"), ["author_id"], unique=False)
        batch_op.create_index(
            "ix_petitions_council_state", ["council", "state", "id"], unique=False
        )
        batch_op.create_index("ix_petitions_state_deadline", ["state", "deadline_at"], unique=False)

    op.create_table(
        "petition_counts",
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("signatures", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"], ["petitions.id"], name=op.f("fk_petition_counts_petition_id_petitions")
        ),
        sa.PrimaryKeyConstraint("petition_id", name=op.f("pk_petition_counts")),
    )
    op.create_table(
        "responses",
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("published_by", sa.String(length=32), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"], ["petitions.id"], name=op.f("fk_responses_petition_id_petitions")
        ),
        sa.PrimaryKeyConstraint("petition_id", name=op.f("pk_responses")),
    )
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("signer_name", sa.String(length=200), nullable=False),
        sa.Column("receipt", sa.String(length=32), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"], ["petitions.id"], name=op.f("fk_signatures_petition_id_petitions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatures")),
        sa.UniqueConstraint(
            "petition_id", "phone_hash", name=op.f("uq_signatures_petition_id_phone_hash")
        ),
        sa.UniqueConstraint(
            "petition_id", "user_id", name=op.f("uq_signatures_petition_id_user_id")
        ),
        sa.UniqueConstraint("receipt", name=op.f("uq_signatures_receipt")),
    )
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"], ["petitions.id"], name=op.f("fk_transitions_petition_id_petitions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transitions")),
    )
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transitions_petition_id"), ["petition_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transitions_petition_id"))

    op.drop_table("transitions")
    op.drop_table("signatures")
    op.drop_table("responses")
    op.drop_table("petition_counts")
    with op.batch_alter_table("petitions", schema=None) as batch_op:
        batch_op.drop_index("ix_petitions_state_deadline")
        batch_op.drop_index("ix_petitions_council_state")
        batch_op.drop_index(batch_op.f("ix_petitions_author_id"))

    op.drop_table("petitions")
    op.drop_table("fold_watermarks")
    op.drop_table("council_policies")
