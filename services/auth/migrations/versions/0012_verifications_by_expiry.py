"""Verification requests by when they expire, whatever their status: the sweep deletes
every request whose link can no longer be used (not only those nobody confirmed), so it
reads an index of all of them instead of the pending ones' partial index.

Every email vote writes a request, so on PostgreSQL both indexes change CONCURRENTLY
(build_index_beside_writers).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 12:00:00
"""

from services.common.db import build_index_beside_writers, drop_index_beside_writers

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_index_beside_writers(
        "ix_email_verifications_expires_at", "email_verifications", ["expires_at"]
    )
    drop_index_beside_writers("ix_email_verifications_pending_expiry", "email_verifications")


def downgrade() -> None:
    build_index_beside_writers(
        "ix_email_verifications_pending_expiry",
        "email_verifications",
        ["expires_at"],
        where="status = 'pending'",
    )
    drop_index_beside_writers("ix_email_verifications_expires_at", "email_verifications")
