"""Verification requests still pending, by when they expire: a partial index the sweep
reads to erase the addresses of links nobody clicked.

Every email vote writes a request, so on PostgreSQL the index is built CONCURRENTLY
(build_index_beside_writers).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:30:00
"""

from services.common.db import build_index_beside_writers, drop_index_beside_writers

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_index_beside_writers(
        "ix_email_verifications_pending_expiry",
        "email_verifications",
        ["expires_at"],
        where="status = 'pending'",
    )


def downgrade() -> None:
    drop_index_beside_writers("ix_email_verifications_pending_expiry", "email_verifications")
