"""Auth's tables. Auth is the only service that stores secrets about people."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, FetchedValue, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import UtcDateTime, new_database
from services.common.timeutil import utcnow

db = new_database()


class SigningKey(db.Model):
    """An Ed25519 key pair for access tokens; the private half is encrypted at rest."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    public_jwk: Mapped[str] = mapped_column(String(512), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Tokens are signed with the newest key that is not retired; a retired key stays in
    # the JWKS until `expires_at` so that tokens signed before the rotation still verify.
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


def written_in_column():
    """PostgreSQL: the transaction that wrote the row, filled in by the database (its
    default, migration 0017); the services' cursors follow it ("Cursors" in
    services.auth.keys). Empty on SQLite, where the ids are in commit order."""
    return mapped_column(BigInteger, server_default=FetchedValue(), index=True)


class AccessWithdrawal(db.Model):
    """Every access token of `user_id` issued before `at` stops working: the account was
    deleted, its password reset, or a role taken away. The services fetch the recent
    ones (GET /internal/access-withdrawals); a row outlives every such token, no longer."""

    __tablename__ = "access_withdrawals"
    __table_args__ = ({"sqlite_autoincrement": True},)  # SQLite: no id handed out twice

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, index=True)
    written_in: Mapped[int | None] = written_in_column()


class SessionWithdrawal(db.Model):
    """The access tokens of one session (`sid`, the claim naming its refresh-token family)
    stop working: the person signed out there. Kept `until` the last access token issued
    to the session has expired, no longer, so the list every service reads stays short."""

    __tablename__ = "session_withdrawals"
    __table_args__ = ({"sqlite_autoincrement": True},)  # SQLite: no id handed out twice

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(32), nullable=False)
    until: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, index=True)
    written_in: Mapped[int | None] = written_in_column()
