"""Verification requests by their caller's subject: a caller (polls, for a pending
vote) says which links it acted on, and withdraws one, by the subject it wrote before
asking, not by the id auth answers with.

Every email vote writes a request, so on PostgreSQL the index is built CONCURRENTLY
(build_index_beside_writers).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 16:00:00
"""

from services.common.db import build_index_beside_writers, drop_index_beside_writers

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_index_beside_writers(
        "ix_email_verifications_caller_subject", "email_verifications", ["caller", "subject"]
    )


def downgrade() -> None:
    drop_index_beside_writers("ix_email_verifications_caller_subject", "email_verifications")
