"""The outbox: every email and SMS auth sends, written with the change that caused it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import UtcDateTime
from services.common.timeutil import utcnow

from ..models import db

# created -> sending -> sent
#               \-> created again (retryable failure, later next_attempt_at)
#               \-> failed (permanent failure, or attempts exhausted)
STATUSES = ("created", "sending", "sent", "failed")
CHANNELS = ("email", "sms")


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    recipient: Mapped[str] = mapped_column(String(320), nullable=False)
    template: Mapped[str] = mapped_column(String(64), nullable=False)
    locale: Mapped[str] = mapped_column(String(8), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text, nullable=False)
    html_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="created")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    redacted: Mapped[bool] = mapped_column(default=False, nullable=False)

    __table_args__ = (
        # The worker's question, "what is due?", reads this index only.
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        # The sweep's, "what is settled and old enough to forget?": only the rows not
        # forgotten yet, however many were sent before them.
        Index(
            "ix_outbox_messages_unredacted",
            "channel",
            "created_at",
            postgresql_where=text("NOT redacted"),
            sqlite_where=text("NOT redacted"),
        ),
    )


class DeliveryAttempt(db.Model):
    """One try at handing a message to the provider, kept for the operator."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)  # sent|retry|failed
    error: Mapped[str | None] = mapped_column(String(500))
