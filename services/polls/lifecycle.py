"""A poll's life: draft → scheduled → open → closed → archived, moved by people and the clock.

"scheduled" turns "open" at `opens_at` and "open" turns "closed" at `closes_at` without
waiting for anyone: `effective_state` reads the clock, so a vote a second after closing
is refused even before the job (`advance_by_clock`) writes the change down.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import NamedTuple

from flask_babel import gettext
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from services.common.councils import ensure_council
from services.common.errors import NotFound
from services.common.timeutil import utcnow
from services.common.tokens import Principal

from .errors import InvalidPoll, NotAllowed, WrongState
from .models import Option, Poll

MIN_OPTIONS, MAX_OPTIONS = 2, 30
PUBLISHED = ("scheduled", "open", "closed", "archived")


def can_manage(actor: Principal | None, council: str) -> bool:
    """Moderators and admins of the council, and platform admins, run its polls."""
    return actor is not None and (
        actor.platform_admin or actor.has_role(council, "moderator", "admin")
    )


def effective_state(poll: Poll, now: datetime | None = None) -> str:
    now = now or utcnow()
    state = poll.state
    if state == "scheduled" and poll.opens_at is not None and poll.opens_at <= now:
        state = "open"
    if state == "open" and poll.closes_at is not None and poll.closes_at <= now:
        state = "closed"
    return state


def get_poll(session: Session, poll_id: int, viewer: Principal | None = None) -> Poll:
    """A poll anyone may see; a draft only for those who run its council's polls."""
    poll = session.get(Poll, poll_id)
    if poll is None or (poll.state == "draft" and not can_manage(viewer, poll.council)):
        raise NotFound(gettext("There is no such poll."))
    return poll


class PublishedOption(NamedTuple):
    id: int
    label: str


@dataclass(frozen=True)
class PublishedPoll:
    """What voting and its pages need of a published poll. None of it changes once a
    poll is published (only drafts are edited), so each process keeps it; the state is
    not kept here: the vote's INSERT checks it in the database (voting._cast)."""

    id: int
    council: str
    method: str
    max_choices: int
    allow_change: bool
    question: str
    language: str
    results_visibility: str
    options: tuple[PublishedOption, ...]  # in the poll's order

    @cached_property
    def option_ids(self) -> frozenset[int]:
        return frozenset(option.id for option in self.options)

    @cached_property
    def labels(self) -> dict[int, str]:
        return dict(self.options)


_published: dict[int, PublishedPoll] = {}
_published_lock = threading.Lock()
PUBLISHED_KEPT = 10_000


def published_poll(session: Session, poll_id: int) -> PublishedPoll | None:
    """The voting facts of a published poll (from memory after the first read); None
    for a draft or a poll that does not exist."""
    known = _published.get(poll_id)
    if known is not None:
        return known
    poll = session.get(Poll, poll_id)
    if poll is None or poll.state == "draft":
        return None
    facts = PublishedPoll(
        id=poll.id,
        council=poll.council,
        method=poll.method,
        max_choices=poll.max_choices,
        allow_change=poll.allow_change,
        question=poll.question,
        language=poll.language,
        results_visibility=poll.results_visibility,
        options=tuple(PublishedOption(option.id, option.label) for option in poll.options),
    )
    with _published_lock:
        if len(_published) >= PUBLISHED_KEPT:
            _published.clear()
        _published[poll_id] = facts
    return facts


def forget_published_polls() -> None:
    """Drop what this process knows of published polls (tests empty the tables, and
    ids come again)."""
    with _published_lock:
        _published.clear()


def managed_poll(session: Session, actor: Principal, poll_id: int) -> Poll:
    poll = get_poll(session, poll_id, actor)
    if not can_manage(actor, poll.council):
        raise NotAllowed()
    return poll


def _check_options(labels: list[str]) -> list[str]:
    cleaned = [label.strip() for label in labels]
    if not MIN_OPTIONS <= len(cleaned) <= MAX_OPTIONS:
        # In the words of the API's check (fields.Length), which comes first.
        said = gettext("Give from %(min)s to %(max)s answers.", min=MIN_OPTIONS, max=MAX_OPTIONS)
        raise InvalidPoll(errors={"options": [said]})
    if any(not label for label in cleaned) or len({c.casefold() for c in cleaned}) != len(cleaned):
        raise InvalidPoll(errors={"options": [gettext("Each option needs its own text.")]})
    return cleaned


def _check_settings(poll: Poll) -> None:
    errors = {}
    if not 1 <= poll.max_choices <= len(poll.options):
        errors["max_choices"] = [gettext("At most as many choices as there are options.")]
    if poll.opens_at and poll.closes_at and poll.closes_at <= poll.opens_at:
        errors["closes_at"] = [gettext("A poll closes after it opens.")]
    if errors:
        raise InvalidPoll(errors=errors)


def create_poll(session: Session, actor: Principal, data: dict) -> Poll:
    """A new draft poll for the council the actor runs polls in."""
    ensure_council(data["council"])
    if not can_manage(actor, data["council"]):
        raise NotAllowed()
    labels = _check_options(data.pop("options"))
    poll = Poll(**data, state="draft", created_by=actor.user_id, created_at=utcnow())
    poll.options = [Option(position=i, label=label) for i, label in enumerate(labels)]
    _check_settings(poll)
    session.add(poll)
    session.commit()
    return poll


def edit_draft(session: Session, actor: Principal, poll_id: int, changes: dict) -> Poll:
    poll = managed_poll(session, actor, poll_id)
    if poll.state != "draft":
        raise WrongState(gettext("Only a draft can be changed."))
    if "options" in changes:
        labels = _check_options(changes.pop("options"))
        poll.options = [Option(position=i, label=label) for i, label in enumerate(labels)]
        # New options leave the poll's row as it was; writing its state anyway moves its
        # version, so a publish made meanwhile and this edit cannot both succeed.
        flag_modified(poll, "state")
    for key, value in changes.items():
        setattr(poll, key, value)
    _check_settings(poll)
    session.commit()
    return poll


def delete_draft(session: Session, actor: Principal, poll_id: int) -> None:
    poll = managed_poll(session, actor, poll_id)
    if poll.state != "draft":
        raise WrongState(gettext("Only a draft can be deleted; close a published poll."))
    session.delete(poll)
    session.commit()


def publish(session: Session, actor: Principal, poll_id: int) -> Poll:
    """Draft → open now, or scheduled until `opens_at`."""
    poll = managed_poll(session, actor, poll_id)
    if poll.state != "draft":
        raise WrongState(gettext("This poll is published already."))
    now = utcnow()
    if poll.closes_at is not None and poll.closes_at <= now:
        raise InvalidPoll(errors={"closes_at": [gettext("The closing time has passed.")]})
    if poll.opens_at is not None and poll.opens_at > now:
        poll.state = "scheduled"
    else:
        poll.state, poll.opens_at = "open", now
    session.commit()
    return poll


def close(session: Session, actor: Principal, poll_id: int) -> Poll:
    poll = managed_poll(session, actor, poll_id)
    if effective_state(poll) not in ("scheduled", "open"):
        raise WrongState(gettext("Only a scheduled or open poll can be closed."))
    now = utcnow()
    poll.state, poll.closed_at = "closed", now
    if poll.closes_at is None or poll.closes_at > now:
        poll.closes_at = now
    session.commit()
    return poll


def archive(session: Session, actor: Principal, poll_id: int) -> Poll:
    poll = managed_poll(session, actor, poll_id)
    if effective_state(poll) != "closed":
        raise WrongState(gettext("Only a closed poll can be archived."))
    poll.state = "archived"
    session.commit()
    return poll


def advance_by_clock(session: Session, now: datetime | None = None) -> int:
    """Write down what the clock decided: scheduled polls opened, open ones closed."""
    now = now or utcnow()
    due = session.scalars(
        select(Poll)
        .where(
            or_(
                (Poll.state == "scheduled") & (Poll.opens_at <= now),
                (Poll.state == "open") & (Poll.closes_at <= now),
            )
        )
        .with_for_update(skip_locked=True, key_share=True)
    ).all()
    for poll in due:
        state = effective_state(poll, now)
        if state == "closed" and poll.closed_at is None:
            poll.closed_at = poll.closes_at
        poll.state = state
    session.commit()
    return len(due)
