"""One signature and one sponsorship per mailbox: the signer's keyed mailbox hash.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("signatures", "sponsors")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("email_hash", sa.String(length=64), nullable=True))
            batch.create_unique_constraint(
                op.f(f"uq_{table}_petition_id_email_hash"), ["petition_id", "email_hash"]
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"uq_{table}_petition_id_email_hash"), type_="unique")
            batch.drop_column("email_hash")
