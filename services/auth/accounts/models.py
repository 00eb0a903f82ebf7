"""People, their refresh tokens and their phone verifications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import UtcDateTime
from services.common.timeutil import utcnow

from ..models import db


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # Normalised address; NULL once the account is deleted.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Kept after deletion: one person, one vote, even across a deleted account.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    phone_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Set only when verified; unique, so one number verifies one account.
    phone_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # A deleted account keeps the hash of the phone it had verified, without holding the
    # number itself (released for a new account; signatures keep their own hashes).
    erased_phone_hash: Mapped[str | None] = mapped_column(String(64))
    # A new address or number waits here until it is confirmed; the old one stays valid.
    pending_email: Mapped[str | None] = mapped_column(String(320))
    pending_phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), nullable=False, default="uk")
    # Bumped whenever a link must stop working (confirmation used, address changed).
    link_nonce: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RefreshToken(db.Model):
    """One refresh token; rotated at every use. A reused one revokes its family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    family: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PhoneVerification(db.Model):
    """A code sent to a phone. The code is stored hashed and cannot be read back."""

    __tablename__ = "phone_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    phone: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    client: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class MailRequest(db.Model):
    """A request for an account's email that anyone may make for any address (a reset
    link, the confirmation link again). The request only writes this row, whatever the
    address; the delivery worker looks the account up and queues the email, so that
    neither the answer nor its timing tells who has an account. Deleted once answered."""

    __tablename__ = "mail_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    # Indexed: a request like one still waiting adds nothing, asked in every request.
    email: Mapped[str] = mapped_column(String(320), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)
