"""Notifications of a response, waiting to be handed to auth.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petitions.id"],
            name=op.f("fk_pending_notifications_petition_id_petitions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_notifications")),
    )
    op.create_index(op.f("ix_pending_notifications_sent_at"), "pending_notifications", ["sent_at"])


def downgrade() -> None:
    op.drop_table("pending_notifications")
