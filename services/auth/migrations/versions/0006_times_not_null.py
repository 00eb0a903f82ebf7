"""Creation and grant times are never missing: NOT NULL, as the models have said.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMES = {
    "signing_keys": "created_at",
    "users": "created_at",
    "refresh_tokens": "created_at",
    "phone_verifications": "created_at",
    "councils": "created_at",
    "council_roles": "granted_at",
    "role_changes": "at",
    "platform_admins": "granted_at",
    "email_verifications": "created_at",
}


def upgrade() -> None:
    for table, column in TIMES.items():
        # Every row was written with its time; should one lack it, now is the best guess.
        rows = sa.table(table, sa.column(column))
        op.execute(rows.update().where(rows.c[column].is_(None)).values({column: sa.func.now()}))
        with op.batch_alter_table(table) as batch:  # SQLite: the table is re-created
            batch.alter_column(column, existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    for table, column in TIMES.items():
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.DateTime(timezone=True), nullable=True)
