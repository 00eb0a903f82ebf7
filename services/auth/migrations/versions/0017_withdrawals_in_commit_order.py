"""Withdrawals in the order they commit: every service reads only what changed since its
last read (a cursor, services.auth.keys), so a row must never commit "behind" a cursor
already given out.

PostgreSQL: each row records the transaction that wrote it (`written_in`); the column is
added and then given its default, so the table is not rewritten; rows already there keep
NULL, which no cursor asks for: they are in every whole read, and cursors are only given
from now on. SQLite: the tables are re-created with AUTOINCREMENT, so that an id is
never handed out twice (without it, the newest rows tidied away free their ids for the
next ones); the column stays empty there.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

from services.common.db import build_index_beside_writers, drop_index_beside_writers

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("access_withdrawals", "session_withdrawals")
WRITER = "(pg_current_xact_id()::text::bigint)"


def upgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    for table in TABLES:
        if postgres:
            op.add_column(table, sa.Column("written_in", sa.BigInteger()))
            op.alter_column(table, "written_in", server_default=sa.text(WRITER))
        else:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch:
                batch.add_column(sa.Column("written_in", sa.BigInteger()))
        build_index_beside_writers(f"ix_{table}_written_in", table, ["written_in"])


def downgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    for table in TABLES:
        drop_index_beside_writers(f"ix_{table}_written_in", table)
        if postgres:
            op.drop_column(table, "written_in")
        else:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": False}
            ) as batch:
                batch.drop_column("written_in")
