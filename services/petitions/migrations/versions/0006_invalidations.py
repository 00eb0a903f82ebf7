"""Invalidations: moderators take signatures out of the count, reversibly.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 18:12:27.106158
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invalidations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("signatures", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["petition_id"], ["petitions.id"], name=op.f("fk_invalidations_petition_id_petitions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invalidations")),
    )
    with op.batch_alter_table("invalidations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invalidations_petition_id"), ["petition_id"], unique=False
        )

    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invalidation_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_signatures_invalidation_id_invalidations"),
            "invalidations",
            ["invalidation_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_signatures_invalidation_id_invalidations"), type_="foreignkey"
        )
        batch_op.drop_column("invalidation_id")

    with op.batch_alter_table("invalidations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invalidations_petition_id"))

    op.drop_table("invalidations")
