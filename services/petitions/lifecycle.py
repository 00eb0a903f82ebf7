"""A petition's life, one function per transition.

Each checks the state and the actor, records who, when and why in the timeline, and
commits. A refusal is a Problem: 409 for the wrong state, 403 for the wrong actor.

    draft -> moderation -> open -> successful -> answered
                       \\-> rejected   \\-> closed (period over, threshold missed)
    any published state -> hidden (taken down), by a moderator with a reason
    draft -> (deleted), by its author

Nobody decides on their own petition: its author may not approve, reject, take down,
answer it or set aside (or restore) its signatures, nor may one of its sponsors approve
or reject it (they took its side before moderation); another moderator of the council
does (a 403, `own-petition`). A draft is its author's alone: nobody else sees it.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import UTC, datetime, timedelta, tzinfo

from flask_babel import gettext
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.councils import council_zone
from services.common.errors import NotFound, ValidationFailed
from services.common.hashing import secrets_match
from services.common.timeutil import utcnow
from services.common.tokens import Principal

from .errors import AlreadySigned, NotAllowed, OwnPetition, VerificationNeeded, WrongState
from .models import (
    DECISIONS,
    PendingNotification,
    Petition,
    Response,
    Signature,
    Sponsor,
    Transition,
    in_signing_order,
)
from .policy import policy_for, publishes_rejected

PUBLISHED = ("open", "successful", "answered", "closed")
# A signature whose statement began before the deadline may commit just after it, and
# the counts are folded in behind the rows: a petition is judged this long after its
# deadline, by its rows, so that a threshold reached in the last second is not lost.
JUDGED_AFTER_DEADLINE = timedelta(seconds=5)


def add_working_days(
    start: datetime, days: int, zone: tzinfo = UTC, days_off: Collection[str] = ()
) -> datetime:
    """`days` working days after `start` on a council's calendar: Monday to Friday in
    its time zone, but for `days_off` (ISO dates: public holidays); at the same hour of
    the day on its clocks."""
    moment = start.astimezone(zone)
    while days > 0:
        moment += timedelta(days=1)  # an aware time plus a day: the same wall-clock hour
        if moment.weekday() < 5 and moment.date().isoformat() not in days_off:
            days -= 1
    return moment.astimezone(UTC)


def due_after(session: Session, council: str, start: datetime, period: str) -> datetime:
    """When the council's `period` ("moderation_days", "response_days": working days in
    its policy) that begins at `start` ends, on its calendar."""
    policy = policy_for(session, council)
    days_off = frozenset(policy.non_working_days)
    return add_working_days(start, getattr(policy, period), council_zone(council), days_off)


# What a petition's author is told by email, by the state it moves to (that the council
# answered, and the signers who asked that it answered, are written in `respond`).
AUTHOR_TOLD = {"open": "approved", "rejected": "rejected", "successful": "successful"}


def _record(
    session: Session,
    petition: Petition,
    to_state: str,
    actor: Principal | None,
    reason: str | None = None,
    told: str | None = None,
) -> None:
    """The transition, in the timeline, and the email it owes the author (written in the
    same transaction, handed to auth by a job: services.petitions.notifications): by
    AUTHOR_TOLD, or `told` where the state alone does not say (closed, or forwarded)."""
    session.add(
        Transition(
            petition_id=petition.id,
            from_state=petition.state,
            to_state=to_state,
            actor_id=actor.user_id if actor else None,
            reason=reason,
            at=utcnow(),
        )
    )
    petition.state = to_state
    kind = told or AUTHOR_TOLD.get(to_state)
    if kind is not None:
        session.add(PendingNotification(petition_id=petition.id, kind=kind, attempts=0))


def is_moderator(actor: Principal, council: str) -> bool:
    return actor.platform_admin or actor.has_role(council, "moderator", "admin")


def get_petition(session: Session, petition_id: int, viewer: Principal | None = None) -> Petition:
    """A petition as `viewer` may see it: drafts and hidden ones only to their people."""
    petition = session.get(Petition, petition_id)
    if petition is None or not may_see(session, petition, viewer):
        raise NotFound(gettext("There is no such petition."))
    return petition


def may_see(session: Session, petition: Petition, viewer: Principal | None) -> bool:
    """Whether `viewer` may see the petition: anyone a published one (a rejected one where
    the council publishes rejections), not taken down; its author any; its moderators any
    but a draft."""
    visible = not petition.hidden and (
        petition.state in PUBLISHED
        or (petition.state == "rejected" and publishes_rejected(session, petition.council))
    )
    if visible or viewer is None:
        return visible
    # A draft is its author's alone until submitted, the council's moderators included.
    return viewer.user_id == petition.author_id or (
        petition.state != "draft" and is_moderator(viewer, petition.council)
    )


def _require_verified(actor: Principal, level: str) -> None:
    if not actor.email_verified:
        raise VerificationNeeded(gettext("Confirm your email address first."))
    if level == "email+phone" and not actor.phone_hash:
        raise VerificationNeeded(gettext("Verify your phone number first."))


def file_petition(
    session: Session, actor: Principal, *, council: str, title: str, text: str
) -> Petition:
    """A new draft by `actor`."""
    _require_verified(actor, policy_for(session, council).author_verification)
    petition = Petition(
        council=council,
        author_id=actor.user_id,
        author_name=actor.name,
        title=title,
        text=text,
        state="draft",
        hidden=False,
        created_at=utcnow(),
    )
    session.add(petition)
    session.flush()
    session.add(
        Transition(
            petition_id=petition.id,
            from_state=None,
            to_state="draft",
            actor_id=actor.user_id,
            at=utcnow(),
        )
    )
    session.commit()
    return petition


def edit_draft(session: Session, actor: Principal, petition_id: int, changes: dict) -> Petition:
    petition = get_petition(session, petition_id, actor)
    if petition.author_id != actor.user_id:
        raise NotAllowed(gettext("Only the author may edit a petition."))
    if petition.state != "draft":
        raise WrongState(gettext("Only a draft can be edited."))
    for key in ("title", "text"):
        if key in changes:
            setattr(petition, key, changes[key])
    session.commit()
    return petition


def delete_draft(session: Session, actor: Principal, petition_id: int) -> None:
    """Delete a draft (its author), with its one timeline step; nothing else refers to a
    draft. A draft submitted meanwhile is not deleted: its version moved on (a 409)."""
    petition = get_petition(session, petition_id, actor)
    if petition.author_id != actor.user_id:
        raise NotAllowed(gettext("Only the author may delete a petition."))
    if petition.state != "draft":
        raise WrongState(gettext("Only a draft can be deleted."))
    session.execute(delete(Transition).where(Transition.petition_id == petition.id))
    session.delete(petition)
    session.commit()


def submit(session: Session, actor: Principal, petition_id: int) -> Petition:
    """Send a draft to the council's moderators."""
    petition = get_petition(session, petition_id, actor)
    if petition.author_id != actor.user_id:
        raise NotAllowed(gettext("Only the author may submit a petition."))
    if petition.state != "draft":
        raise WrongState(gettext("Only a draft can be submitted."))
    petition.submitted_at = utcnow()
    needed = policy_for(session, petition.council).sponsors_needed
    if needed:
        petition.sponsors_needed = needed
        petition.sponsor_token = secrets.token_urlsafe(24)
        _record(session, petition, "sponsors", actor)
    else:
        _to_moderation(session, petition, actor)
    session.commit()
    return petition


def _to_moderation(session: Session, petition: Petition, actor: Principal | None) -> None:
    petition.moderation_due_at = due_after(session, petition.council, utcnow(), "moderation_days")
    _record(session, petition, "moderation", actor)


def sponsorship(
    session: Session, petition_id: int, viewer: Principal | None, token: str | None
) -> tuple[Petition, int]:
    """A petition collecting sponsors, for its author, its moderators or a link holder;
    with the number of sponsors so far."""
    petition = session.get(Petition, petition_id)
    if petition is None or petition.sponsor_token is None:
        raise NotFound(gettext("There is no such petition."))
    if not (token and secrets_match(token, petition.sponsor_token)):
        get_petition(session, petition_id, viewer)  # the author and moderators only
    count = session.scalar(select(func.count(Sponsor.id)).where(Sponsor.petition_id == petition.id))
    return petition, count


def sponsor(session: Session, actor: Principal, petition_id: int, token: str) -> int:
    """Back a petition through its author's link; the number of sponsors now. With the
    last one needed, the petition goes to the moderators."""
    petition = session.scalar(
        select(Petition).where(Petition.id == petition_id).with_for_update()
    )  # one sponsor at a time per petition: the last one moves it exactly once
    if petition is None or not petition.sponsor_token:
        raise NotFound(gettext("There is no such petition."))
    if not secrets_match(token, petition.sponsor_token):
        raise NotAllowed(gettext("This sponsor link is not valid."))
    if petition.state != "sponsors":
        raise WrongState(gettext("This petition is not collecting sponsors."))
    if actor.user_id == petition.author_id:
        raise NotAllowed(gettext("The author cannot sponsor their own petition."))
    _require_verified(actor, policy_for(session, petition.council).signer_verification)
    session.add(
        Sponsor(
            petition_id=petition.id,
            user_id=actor.user_id,
            email_hash=actor.email_hash,
            phone_hash=actor.phone_hash,
            name=actor.name,
            created_at=utcnow(),
        )
    )
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise AlreadySigned(gettext("You support this petition already.")) from exc
    count = session.scalar(select(func.count(Sponsor.id)).where(Sponsor.petition_id == petition.id))
    if count >= (petition.sponsors_needed or 0):
        _to_moderation(session, petition, None)
    session.commit()
    return count


def sponsored_by(session: Session, user_id: str, petition_ids: Collection[int]) -> set[int]:
    """Which of the petitions the account sponsored."""
    if not petition_ids:
        return set()
    return set(
        session.scalars(
            select(Sponsor.petition_id).where(
                Sponsor.user_id == user_id, Sponsor.petition_id.in_(petition_ids)
            )
        )
    )


def moderated_petition(
    session: Session, actor: Principal, petition_id: int, *, moderation: bool = False
) -> Petition:
    """The petition, for a moderator of its council who may decide on it: not its author,
    nor, for the `moderation` decision (approve or reject), one of its sponsors."""
    petition = get_petition(session, petition_id, actor)
    if not is_moderator(actor, petition.council):
        raise NotAllowed()
    if petition.author_id == actor.user_id:
        raise OwnPetition(
            gettext("Another moderator of the council must decide on your own petition.")
        )
    if moderation and sponsored_by(session, actor.user_id, [petition.id]):
        raise OwnPetition(
            gettext("Another moderator of the council must decide on a petition you sponsored.")
        )
    return petition


def approve(session: Session, actor: Principal, petition_id: int) -> Petition:
    """Publish: signatures are collected from now until the deadline."""
    petition = moderated_petition(session, actor, petition_id, moderation=True)
    if petition.state != "moderation":
        raise WrongState(gettext("Only a petition awaiting moderation can be approved."))
    policy = policy_for(session, petition.council)
    now = utcnow()
    petition.opened_at = now
    petition.deadline_at = now + timedelta(days=policy.collection_days)
    petition.threshold = policy.threshold
    _record(session, petition, "open", actor)
    session.commit()
    return petition


def reject(
    session: Session, actor: Principal, petition_id: int, reason: str, explanation: str
) -> Petition:
    """Refuse with a reason from the council's catalogue and an explanation."""
    petition = moderated_petition(session, actor, petition_id, moderation=True)
    if petition.state != "moderation":
        raise WrongState(gettext("Only a petition awaiting moderation can be rejected."))
    if reason not in policy_for(session, petition.council).rejection_reasons:
        raise ValidationFailed(
            gettext("Choose a reason from the council's list."),
            errors={"reason": [gettext("Not in the council's list.")]},
        )
    petition.rejection_reason, petition.rejection_explanation = reason, explanation
    petition.rejected_at = utcnow()
    _record(session, petition, "rejected", actor, f"{reason}: {explanation}")
    session.commit()
    return petition


def take_down(session: Session, actor: Principal, petition_id: int, reason: str) -> Petition:
    """Hide a published petition; the timeline keeps why."""
    petition = moderated_petition(session, actor, petition_id)
    if petition.state not in PUBLISHED or petition.hidden:
        raise WrongState(gettext("Only a published petition can be taken down."))
    petition.hidden = True
    session.add(
        Transition(
            petition_id=petition.id,
            from_state=petition.state,
            to_state="hidden",
            actor_id=actor.user_id,
            reason=reason,
            at=utcnow(),
        )
    )
    session.commit()
    return petition


def mark_successful(session: Session, petition: Petition, at: datetime) -> None:
    """The threshold is reached (called by the count aggregator)."""
    petition.succeeded_at = at
    petition.response_due_at = due_after(session, petition.council, at, "response_days")
    _record(session, petition, "successful", None)


def close_expired(session: Session, now: datetime | None = None) -> int:
    """Judge open petitions whose period ended (the scheduler): successful when their
    signatures, counted from the rows, reached the threshold in time; closed otherwise.
    The number judged."""
    now = now or utcnow()
    # Every process runs this job: each judges the petitions the others have not locked.
    expired = session.scalars(
        select(Petition)
        .where(Petition.state == "open", Petition.deadline_at < now - JUDGED_AFTER_DEADLINE)
        .with_for_update(skip_locked=True, key_share=True)
    ).all()
    for petition in expired:
        reached_at = _threshold_reached_at(session, petition)
        if reached_at is not None:
            mark_successful(session, petition, reached_at)
            continue
        petition.closed_at = now
        appeal = policy_for(session, petition.council).on_failure == "appeal"
        _record(
            session,
            petition,
            "closed",
            None,
            "forwarded as an ordinary appeal" if appeal else None,
            told="forwarded" if appeal else "closed",
        )
    session.commit()
    return len(expired)


def _threshold_reached_at(session: Session, petition: Petition) -> datetime | None:
    """When the signature that reached the threshold was given; None if none did."""
    if not petition.threshold:
        return None
    return session.scalar(
        in_signing_order(
            session,
            select(Signature.created_at).where(Signature.invalidation_id.is_(None)),
            petition.id,
        )
        .offset(petition.threshold - 1)
        .limit(1)
    )


def respond(
    session: Session, actor: Principal, petition_id: int, text: str, decision: str
) -> Response:
    """Publish the council's official answer to a successful petition."""
    petition = moderated_petition(session, actor, petition_id)
    if petition.state != "successful":
        raise WrongState(gettext("Only a successful petition can be answered."))
    if decision not in DECISIONS:
        raise ValidationFailed(
            gettext("Choose a decision."), errors={"decision": [gettext("Not a known decision.")]}
        )
    response = Response(
        petition_id=petition.id,
        text=text,
        decision=decision,
        published_by=actor.user_id,
        published_at=utcnow(),
    )
    session.add(response)
    # Its author is told the council answered their petition; the signers who asked,
    # that it answered a petition they signed.
    for kind in ("answered", "response"):
        session.add(PendingNotification(petition_id=petition.id, kind=kind, attempts=0))
    _record(session, petition, "answered", actor)
    session.commit()
    return response


def overdue(petition: Petition, now: datetime | None = None) -> bool:
    """Moderation or the response is late."""
    now = now or utcnow()
    due = {"moderation": petition.moderation_due_at, "successful": petition.response_due_at}
    deadline = due.get(petition.state)
    return deadline is not None and deadline < now
