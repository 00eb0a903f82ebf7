"""Sponsors: residents who back a petition before moderation, where the council asks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 18:11:01.940957
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sponsors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"], ["petitions.id"], name=op.f("fk_sponsors_petition_id_petitions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsors")),
        sa.UniqueConstraint(
            "petition_id", "phone_hash", name=op.f("uq_sponsors_petition_id_phone_hash")
        ),
        sa.UniqueConstraint("petition_id", "user_id", name=op.f("uq_sponsors_petition_id_user_id")),
    )
    with op.batch_alter_table("council_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sponsors_needed", sa.Integer(), nullable=False, server_default="0")
        )

    with op.batch_alter_table("petitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sponsors_needed", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sponsor_token", sa.String(length=43), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("petitions", schema=None) as batch_op:
        batch_op.drop_column("sponsor_token")
        batch_op.drop_column("sponsors_needed")

    with op.batch_alter_table("council_policies", schema=None) as batch_op:
        batch_op.drop_column("sponsors_needed")

    op.drop_table("sponsors")
