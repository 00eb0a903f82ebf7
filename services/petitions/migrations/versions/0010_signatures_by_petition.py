"""A petition's signatures in the order they were given: an index on (petition_id, id).

The signer pages (`id > cursor ORDER BY id LIMIT n`), the moderators' CSV and the
moment a threshold was reached read one petition's signatures in order of id; without
this index PostgreSQL walks the primary key past every other petition's signatures, or
reads all of the petition's and sorts them.

Signing inserts into `signatures` all the time, so on PostgreSQL the index is built
CONCURRENTLY, signing going on meanwhile (build_index_beside_writers).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00
"""

from services.common.db import build_index_beside_writers, drop_index_beside_writers

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_index_beside_writers("ix_signatures_petition_id_id", "signatures", ["petition_id", "id"])


def downgrade() -> None:
    drop_index_beside_writers("ix_signatures_petition_id_id", "signatures")
