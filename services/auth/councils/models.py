"""Councils (hromadas), who moderates and administers each, and who runs the platform."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import UtcDateTime
from services.common.timeutil import utcnow

from ..models import db

ROLES = ("moderator", "admin")


class Council(db.Model):
    __tablename__ = "councils"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    default_language: Mapped[str] = mapped_column(String(8), nullable=False)
    # An IANA name ("Europe/Kyiv"): the web shows the council's times on its clocks.
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CouncilRole(db.Model):
    __tablename__ = "council_roles"
    # Named as migration 0004 created it (the naming convention would add every column).
    __table_args__ = (
        UniqueConstraint("council_id", "user_id", "role", name="uq_council_roles_council_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    council_id: Mapped[int] = mapped_column(
        ForeignKey("councils.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    granted_by: Mapped[int | None] = mapped_column(Integer)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RoleChange(db.Model):
    """Who granted or revoked which role, when: kept after the role itself is gone."""

    __tablename__ = "role_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    council_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False)  # grant | revoke
    by_user_id: Mapped[int | None] = mapped_column(Integer)  # None: the operator's CLI
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PlatformAdmin(db.Model):
    __tablename__ = "platform_admins"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


def new_invitation_reference() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits, 22 characters


class Invitation(db.Model):
    """An admin's invitation of an email address to a role in the council. The role is
    granted, as the inviting admin's act, only when the account whose confirmed address
    it is accepts it; until `expires_at`, and while not withdrawn or used."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the emailed link names, instead of the id: the id counts the invitations the
    # installation has sent, and anyone holding a link could read it. Not a credential
    # (only the invited account accepts, and the link is signed). NULL only on
    # invitations made before migration 0018, whose links name the id; they expire
    # within a week of it, and the column may then become NOT NULL.
    reference: Mapped[str | None] = mapped_column(
        String(32), unique=True, index=True, default=new_invitation_reference
    )
    council_id: Mapped[int] = mapped_column(
        ForeignKey("councils.id", ondelete="CASCADE"), nullable=False, index=True
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False)  # normalised
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    invited_by: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    accepted_by: Mapped[int | None] = mapped_column(Integer)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
