"""Addresses other services asked auth to verify, for a purpose of theirs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import UtcDateTime
from services.common.timeutil import utcnow

from ..models import db


class EmailVerification(db.Model):
    """One request like "confirm that this person votes in poll 7 from this address"."""

    __tablename__ = "email_verifications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    caller: Mapped[str] = mapped_column(String(32), nullable=False)
    purpose: Mapped[str] = mapped_column(String(100), nullable=False)
    subject: Mapped[str] = mapped_column(String(100), nullable=False)
    # No address: it goes only into the email's outbox row; here its keyed hash.
    email_hash: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    locale: Mapped[str] = mapped_column(String(8), nullable=False)
    return_url: Mapped[str | None] = mapped_column(String(500))
    context: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        # What the sweep looks for: the requests whose link has expired, to delete them.
        Index("ix_email_verifications_expires_at", "expires_at"),
        # How a caller names its own request (a pending vote's id) when it says the
        # link was used or withdraws it: written before auth is asked, it is the
        # caller's handle from the start.
        Index("ix_email_verifications_caller_subject", "caller", "subject"),
    )


class NotificationBatch(db.Model):
    """A batch of notifications a service handed over under its own key: handed over
    again (a retry after the caller lost the answer), it is not sent again."""

    __tablename__ = "notification_batches"

    caller: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    queued: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
