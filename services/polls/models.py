"""Polls' tables: council policy, polls and options, ballots, pending email votes, tallies.

A counted vote is a ballot row, unique per poll and person: the aggregator folds new
ballots (one voter, +1 per first choice) into option and poll tallies. A changed vote
appends tally entries (+1 per option it adds, -1 per option it drops), folded the same
way. No vote touches a shared row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import UtcDateTime, new_database
from services.common.folding import WatermarkColumns
from services.common.timeutil import utcnow

db = new_database()

STATES = ("draft", "scheduled", "open", "closed", "archived")
METHODS = ("email", "account", "account+phone")
RESULTS_VISIBILITY = ("always", "after_vote", "after_close")


class CouncilPolicy(db.Model):
    """One council's rules for polls, set by its admins."""

    __tablename__ = "council_policies"

    council: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Sites allowed to frame the council's poll widgets ("https://rada.example.ua").
    widget_origins: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    block_disposable_email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(32))


class Poll(db.Model):
    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    council: Mapped[str] = mapped_column(String(64), nullable=False)
    question: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="uk")
    max_choices: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    method: Mapped[str] = mapped_column(String(16), nullable=False, default="email")
    results_visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="always")
    allow_change: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Stored state; "scheduled" becomes "open" and "open" becomes "closed" by the clock
    # (see lifecycle.effective_state), and a job writes the change down.
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reconciled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Every change of the row checks and bumps it: of a publish and a delete made at
    # once, the second is refused (StaleDataError, a 409).
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    options: Mapped[list[Option]] = relationship(
        order_by="Option.position", cascade="all, delete-orphan", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's protocol
    __table_args__ = (
        Index("ix_polls_council_state", "council", "state", "id"),
        Index("ix_polls_state_closes", "state", "closes_at"),
    )


class Option(db.Model):
    __tablename__ = "options"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)


class Ballot(db.Model):
    """One person's counted vote in a poll; `choices` is what counts now, `first_choices`
    what the aggregator folds (never updated: a change appends tally entries instead)."""

    __tablename__ = "ballots"
    __table_args__ = (
        # Email votes: one per confirmed address; account+phone: one per phone too.
        UniqueConstraint("poll_id", "voter_hash"),
        # Account votes: one per account. NULLs (email votes) never collide.
        UniqueConstraint("poll_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), nullable=False)
    voter_hash: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    choices: Mapped[list] = mapped_column(JSON, nullable=False)
    first_choices: Mapped[list] = mapped_column(JSON, nullable=False)
    receipt: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TallyEntry(db.Model):
    """+1 or -1 for an option, appended by a changed vote. Entries with no option (±1
    voter) were appended by every vote before ballots were folded themselves (0004)."""

    __tablename__ = "tally_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(Integer, nullable=False)
    option_id: Mapped[int | None] = mapped_column(Integer)
    delta: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # The changed ballot, so that its voter sees the change before it is folded (none
    # on entries written before 0005).
    ballot_id: Mapped[int | None] = mapped_column(Integer, index=True)


class OptionTally(db.Model):
    """Folded votes for one option: written by the aggregator only."""

    __tablename__ = "option_tallies"

    option_id: Mapped[int] = mapped_column(ForeignKey("options.id"), primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), nullable=False, index=True)
    votes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class PollTally(db.Model):
    """Folded number of voters of a poll: written by the aggregator only."""

    __tablename__ = "poll_tallies"

    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), primary_key=True)
    voters: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PendingVote(db.Model):
    """An email vote waiting for its confirmation link; it counts nowhere until then.

    The id is a random secret: whoever holds it made the request and may cancel it.
    It is also the subject of auth's verification, by which polls names that to auth;
    the address itself stays with auth.
    """

    __tablename__ = "pending_votes"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id"), nullable=False, index=True)
    choices: Mapped[list] = mapped_column(JSON, nullable=False)
    # No longer written: auth is told of a verification by its subject, this row's id.
    # Kept while processes of the release before may still write it (a rolling
    # upgrade); a later migration drops it.
    verification_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    receipt: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_pending_votes_status_expires", "status", "expires_at"),)


class FoldWatermark(WatermarkColumns, db.Model):
    """The last id the aggregator has folded, per stream ("ballots", "tally-entries")."""

    __tablename__ = "fold_watermarks"
