"""The outbox's messages not forgotten yet: a partial index the sweep reads, so that
forgetting old messages costs the same with a million sent before them.

The outbox is written by every email vote, so on PostgreSQL the index is built
CONCURRENTLY, sending going on meanwhile (build_index_beside_writers).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 11:00:00
"""

from services.common.db import build_index_beside_writers, drop_index_beside_writers

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_index_beside_writers(
        "ix_outbox_messages_unredacted",
        "outbox_messages",
        ["channel", "created_at"],
        where="NOT redacted",
    )


def downgrade() -> None:
    drop_index_beside_writers("ix_outbox_messages_unredacted", "outbox_messages")
