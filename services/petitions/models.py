"""Petitions' tables: council policy, petitions, signatures, counts, timeline, responses.

A signature is one appended row; uniqueness per person is the database's job, and no
signing transaction touches a shared counter (counts are folded in by `counts.py`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    tuple_,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.common.db import UtcDateTime, new_database
from services.common.folding import WatermarkColumns
from services.common.timeutil import utcnow

db = new_database()

STATES = (
    "draft",
    "sponsors",  # collecting the sponsors the council asks for before moderation
    "moderation",
    "open",
    "rejected",
    "successful",
    "answered",
    "closed",
)
REJECTION_REASONS = (
    "duplicate",
    "outside-competence",
    "unlawful-content",
    "unclear-request",
    "personal-data",
    "offensive",
)
DECISIONS = ("supported", "partly-supported", "not-supported")


class CouncilPolicy(db.Model):
    """One council's rules for petitions, set by its admins."""

    __tablename__ = "council_policies"

    council: Mapped[str] = mapped_column(String(64), primary_key=True)
    threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=250)
    collection_days: Mapped[int] = mapped_column(Integer, nullable=False, default=90)
    # "email" or "email+phone" (the seed's sign-up requires SMS confirmation).
    signer_verification: Mapped[str] = mapped_column(String(16), default="email+phone")
    author_verification: Mapped[str] = mapped_column(String(16), default="email+phone")
    # Residents who must back a draft (through a link its author shares) before
    # moderators see it; 0 sends it to moderation at once.
    sponsors_needed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    moderation_days: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    response_days: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    # Weekdays that are no working days (public holidays), as ISO dates: the two
    # periods above skip them as they skip weekends.
    non_working_days: Mapped[list] = mapped_column(JSON, nullable=False, default=lambda: [])
    signer_names_public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # A public list of rejected petitions with their reasons.
    rejected_public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Whether a signer may take a signature back while the petition is open.
    allow_withdrawal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    on_failure: Mapped[str] = mapped_column(String(16), default="closed")  # closed | appeal
    rejection_reasons: Mapped[list] = mapped_column(
        JSON, nullable=False, default=lambda: list(REJECTION_REASONS)
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(32))


class Petition(db.Model):
    __tablename__ = "petitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    council: Mapped[str] = mapped_column(String(64), nullable=False)
    author_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    author_name: Mapped[str] = mapped_column(String(200), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    hidden: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    threshold: Mapped[int | None] = mapped_column(Integer)  # fixed when it opens
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    moderation_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    succeeded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rejected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # migration 0012
    sponsors_needed: Mapped[int | None] = mapped_column(Integer)  # fixed at submission
    sponsor_token: Mapped[str | None] = mapped_column(String(43))  # the shared link's secret
    rejection_reason: Mapped[str | None] = mapped_column(String(32))
    rejection_explanation: Mapped[str | None] = mapped_column(Text)
    # Every change of the row checks and bumps it: of two moderators approving at once,
    # or a take-down racing the clock, the second is refused (StaleDataError, a 409).
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's protocol
    __table_args__ = (
        Index("ix_petitions_council_state", "council", "state", "id"),
        Index("ix_petitions_state_deadline", "state", "deadline_at"),
    )


class Signature(db.Model):
    """One person's signature: appended once, never updated by signing."""

    __tablename__ = "signatures"
    __table_args__ = (
        UniqueConstraint("petition_id", "user_id"),
        # One person, however many accounts: one mailbox (keyed hash, +tags and Gmail's
        # dots aside), one phone. NULL hashes (an email-only council's signers have no
        # phone) do not collide with each other.
        UniqueConstraint("petition_id", "email_hash"),
        UniqueConstraint("petition_id", "phone_hash"),
        # A petition's signatures in the order they were given: the signer pages (from
        # a cursor), the moderators' CSV and the moment the threshold was reached read
        # only the petition's rows, already in order (petitions migration 0010).
        Index("ix_signatures_petition_id_id", "petition_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    email_hash: Mapped[str | None] = mapped_column(String(64))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    signer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    receipt: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    notify: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Set while a moderators' invalidation holds the signature out of the count.
    invalidation_id: Mapped[int | None] = mapped_column(ForeignKey("invalidations.id"))


def in_signing_order(
    session: Session, statement: Select, petition_id: int, after: int = 0
) -> Select:
    """`statement` (on signatures) kept to the petition's signatures with ids above
    `after`, in the order they were given: read along ix_signatures_petition_id_id from
    `after` on, whatever the petition's share of all signatures.

    On PostgreSQL said as a range over (petition_id, id), not `petition_id = … ORDER BY
    id`: given the equality, PostgreSQL may walk the primary key instead, skipping other
    petitions' rows, a walk it judges cheap for a petition holding a large share of the
    table as if its signatures were spread evenly; they come in a burst, so the first
    page of a popular petition read every signature given before its first. SQLite
    starts the index at `after` only given the equality.
    """
    if session.get_bind().dialect.name == "postgresql":
        kept = (
            tuple_(Signature.petition_id, Signature.id) > tuple_(petition_id, after),
            Signature.petition_id <= petition_id,
        )
    else:
        kept = (Signature.petition_id == petition_id, Signature.id > after)
    return statement.where(*kept).order_by(Signature.petition_id, Signature.id)


class Invalidation(db.Model):
    """Moderators took signatures out of the count, by criteria, saying why; reversible."""

    __tablename__ = "invalidations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    criteria: Mapped[dict] = mapped_column(JSON, nullable=False)
    signatures: Mapped[int] = mapped_column(Integer, nullable=False)
    actor_id: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    reverted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reverted_by: Mapped[str | None] = mapped_column(String(32))


class Sponsor(db.Model):
    """A resident backing a petition before moderation: once per person."""

    __tablename__ = "sponsors"
    __table_args__ = (
        UniqueConstraint("petition_id", "user_id"),
        UniqueConstraint("petition_id", "email_hash"),
        UniqueConstraint("petition_id", "phone_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    email_hash: Mapped[str | None] = mapped_column(String(64))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PetitionCount(db.Model):
    """The folded count of a petition: written by the aggregator only."""

    __tablename__ = "petition_counts"

    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"), primary_key=True)
    signatures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class FoldWatermark(WatermarkColumns, db.Model):
    """The last signature id the aggregator has counted (one row)."""

    __tablename__ = "fold_watermarks"


class Transition(db.Model):
    """Who moved a petition from which state to which, when and why: its timeline."""

    __tablename__ = "transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"), nullable=False, index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(32))  # None: the scheduler
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Response(db.Model):
    """The council's official answer."""

    __tablename__ = "responses"

    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    decision: Mapped[str] = mapped_column(String(20), nullable=False)
    published_by: Mapped[str] = mapped_column(String(32), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PendingNotification(db.Model):
    """ "Tell the author (and the signers)": written with the transition it tells of,
    handed to auth by a job, so a notification survives auth being down meanwhile."""

    __tablename__ = "pending_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    petition_id: Mapped[int] = mapped_column(ForeignKey("petitions.id"), nullable=False)
    # "response" (to the signers who asked), or what the author alone is told:
    # "approved", "rejected", "successful", "closed", "forwarded" (AUTHOR_TOLD), "answered".
    kind: Mapped[str] = mapped_column(
        String(16), nullable=False, default="response", server_default="response"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The highest account id handed to auth so far (recipients go in order of id),
    # committed after every chunk: a retry after a failure or a crash part way through a
    # long list goes on from there.
    handed_over_upto: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    last_error: Mapped[str | None] = mapped_column(String(300))
