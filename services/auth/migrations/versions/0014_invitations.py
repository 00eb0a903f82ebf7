"""Invitations of an email address to a role in a council, granted when the account of
that confirmed address accepts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "council_id",
            sa.Integer(),
            sa.ForeignKey(
                "councils.id", name="fk_invitations_council_id_councils", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column(
            "invited_by",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_invitations_invited_by_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(op.f("ix_invitations_council_id"), "invitations", ["council_id"])
    op.create_index(op.f("ix_invitations_invited_by"), "invitations", ["invited_by"])


def downgrade() -> None:
    op.drop_index(op.f("ix_invitations_invited_by"), table_name="invitations")
    op.drop_index(op.f("ix_invitations_council_id"), table_name="invitations")
    op.drop_table("invitations")
