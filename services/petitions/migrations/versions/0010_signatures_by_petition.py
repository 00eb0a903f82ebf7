"""A petition's signatures in the order they were given: an index on (petition_id, id).

The signer pages (`id > cursor ORDER BY id LIMIT n`), the moderators' CSV and the
moment a threshold was reached read one petition's signatures in order of id; without
this index PostgreSQL walks the primary key past every other petition's signatures, or
reads all of the petition's and sorts them.

Signing inserts into `signatures` all the time, so on PostgreSQL the index is built
CONCURRENTLY (signing goes on while it is built). That cannot run inside a transaction:
the migrations before it are committed first, and the index is built in autocommit. A
build interrupted half way leaves an invalid index of this name behind, which IF NOT
EXISTS would keep: it is dropped first, so running the migration again finishes it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEX = "ix_signatures_petition_id_id"
TABLE = "signatures"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.create_index(INDEX, TABLE, ["petition_id", "id"])
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().scalar(
            sa.text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": INDEX},
        )
        if invalid:
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            INDEX, TABLE, ["petition_id", "id"], postgresql_concurrently=True, if_not_exists=True
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(INDEX, table_name=TABLE)
        return
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
