"""Councils have a time zone; the ones that exist get VICHE_DEFAULT_TIME_ZONE.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added nullable, filled, then made NOT NULL: no server default stays behind to
    # hand a council a zone nobody chose.
    op.add_column("councils", sa.Column("time_zone", sa.String(64), nullable=True))
    councils = sa.table("councils", sa.column("time_zone", sa.String))
    op.execute(
        councils.update()
        .where(councils.c.time_zone.is_(None))
        .values(time_zone=current_app.config["DEFAULT_TIME_ZONE"])
    )
    with op.batch_alter_table("councils") as batch:  # SQLite: the table is re-created
        batch.alter_column("time_zone", existing_type=sa.String(64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("councils") as batch:
        batch.drop_column("time_zone")
