"""Mail requests by address: a request like one still waiting (the same kind, the same
address) adds no row, so every request looks for one; under a flood the table is long.

The table takes a row per request for a reset or confirmation link, so on PostgreSQL the
index is built CONCURRENTLY (build_index_beside_writers).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 15:00:00
"""

from services.common.db import build_index_beside_writers, drop_index_beside_writers

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    build_index_beside_writers("ix_mail_requests_email", "mail_requests", ["email"])


def downgrade() -> None:
    drop_index_beside_writers("ix_mail_requests_email", "mail_requests")
