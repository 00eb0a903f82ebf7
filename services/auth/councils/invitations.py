"""Roles by invitation, free of HTTP.

An admin names an email address and a role; auth mails a signed link (in the council's
language) and answers the same whether or not the address has an account, so inviting
tells nobody who is registered. The role is granted only when the account whose
*confirmed* address was invited opens the link and accepts, and it is recorded as the
inviting admin's act, provided they still administer the council then. A link works
once, for a week, and not after its invitation was withdrawn, by an admin or by the role
being given to the account otherwise (councils.domain.give_role).
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask_babel import gettext
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.common.errors import Forbidden, NotFound
from services.common.timeutil import utcnow

from ..accounts.errors import InvalidLink, TooSoon
from ..accounts.links import link_serializer, load_link
from ..accounts.models import User
from ..accounts.settings import Settings
from ..accounts.users import one_at_a_time
from ..messaging import enqueue_email
from .domain import (
    _check_role,
    _require_admin,
    council_by_slug,
    give_role,
    holds_role,
    invitation_pending,
    may_administer,
    withdraw_pending_invitations,
)
from .models import Council, Invitation

INVITATION_TTL = timedelta(days=7)
# A settled invitation (accepted, withdrawn or expired) is kept this long, then deleted:
# the address an admin typed is not auth's to hold for ever (the role, once accepted, is
# recorded with who granted it). Longer than the hour the admins' limit counts.
SETTLED_INVITATIONS_KEPT = timedelta(days=1)
# Each invitation is an email to an address the admin typed: enough to staff a council
# in an afternoon, too few to make auth a mailer for one admin's account.
INVITATIONS_PER_ADMIN_PER_HOUR = 20
PURPOSE = "invitation"


def invitation_link(settings: Settings, invitation: Invitation) -> str:
    """The web page where the invitee accepts; the token names the invitation only, by
    its random reference (its id would tell how many invitations were sent)."""
    token = link_serializer(settings, PURPOSE).dumps({"r": invitation.reference})
    return f"{settings.public_url}/invitation?token={token}"


def _invitation_named(session: Session, data: dict) -> Invitation | None:
    """The invitation a link's (signed) data names."""
    reference = data.get("r")
    if isinstance(reference, str):
        return session.scalar(select(Invitation).where(Invitation.reference == reference))
    # Links mailed before migration 0018 name the id: they keep working until they
    # expire (a week at most; this branch can go after), since refusing them would
    # strand invitations their admins still see pending, and they tell nothing new (the
    # number is in the mail already). Only for those invitations: on SQLite a later one
    # may be given the id of one the sweep deleted, and an old link must not name it.
    invitation_id = data.get("i")
    if type(invitation_id) is int:
        return session.scalar(
            select(Invitation).where(Invitation.id == invitation_id, Invitation.reference.is_(None))
        )
    return None


def _refuse_when_too_many(session: Session, actor_id: int) -> None:
    """429 once the admin sent INVITATIONS_PER_ADMIN_PER_HOUR in the last hour."""
    one_at_a_time(session, actor_id)  # invitations sent in parallel each count the others
    hour_ago = utcnow() - timedelta(hours=1)
    sent = session.execute(
        select(func.count(Invitation.id), func.min(Invitation.created_at)).where(
            Invitation.invited_by == actor_id, Invitation.created_at > hour_ago
        )
    ).one()
    if sent[0] >= INVITATIONS_PER_ADMIN_PER_HOUR:
        wait = max(1, math.ceil((sent[1] - hour_ago).total_seconds()))
        raise TooSoon(
            gettext("You sent many invitations in the last hour. Try again later."),
            headers={"Retry-After": str(wait)},
        )


def invite(
    session: Session, settings: Settings, *, actor_id: int, slug: str, email: str, role: str
) -> None:
    """Invite `email` to `role` in the council (its admins, or platform admins) and mail
    the link. The same for every address, with an account or without; an earlier pending
    invitation of the address to the role is withdrawn (one link works at a time)."""
    _check_role(role)
    council = council_by_slug(session, slug)
    _require_admin(session, actor_id, council, gettext("Only this council's admins may invite."))
    _refuse_when_too_many(session, actor_id)
    withdraw_pending_invitations(session, council.id, email, role)
    now = utcnow()
    invitation = Invitation(
        council_id=council.id,
        email=email,
        role=role,
        invited_by=actor_id,
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    session.add(invitation)
    session.flush()
    enqueue_email(
        session,
        to=email,
        template="role_invitation",
        locale=council.default_language,
        context={
            "council": council.name,
            "role": role,
            "link": invitation_link(settings, invitation),
            "days": INVITATION_TTL.days,
        },
    )
    session.commit()


def pending_invitations(session: Session, *, actor_id: int, slug: str) -> list[dict]:
    """The council's invitations not yet accepted, withdrawn or expired (its admins)."""
    council = council_by_slug(session, slug)
    _require_admin(session, actor_id, council)
    rows = session.execute(
        select(Invitation, User.name)
        .join(User, User.id == Invitation.invited_by)
        .where(invitation_pending(council.id))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    ).all()
    return [
        {
            "id": row.id,
            "email": row.email,
            "role": row.role,
            "invited_by": row.invited_by,
            "invited_by_name": name,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
        }
        for row, name in rows
    ]


def withdraw_invitation(session: Session, *, actor_id: int, slug: str, invitation_id: int) -> None:
    """Withdraw a pending invitation of the council (its admins): its link stops working.
    One already withdrawn stays so; one accepted or expired is not there any more (404)."""
    council = council_by_slug(session, slug)
    _require_admin(session, actor_id, council)
    invitation = session.scalar(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.council_id == council.id
        )
    )
    if invitation is None or invitation.accepted_at is not None:
        raise NotFound(gettext("There is no such invitation."))
    if invitation.withdrawn_at is None:
        invitation.withdrawn_at = utcnow()
        session.commit()


def _no_longer_valid() -> InvalidLink:
    return InvalidLink(gettext("This invitation has been accepted already or withdrawn."))


def _invitation_for(
    session: Session, settings: Settings, user: User, token: str
) -> tuple[Invitation, Council]:
    """The invitation the link names, if `user` may accept it now; a Problem else."""
    if len(token) > 500:
        raise InvalidLink(gettext("This link is not valid."))
    invitation = _invitation_named(session, load_link(settings, PURPOSE, token, INVITATION_TTL))
    if invitation is None:
        raise _no_longer_valid()
    # Someone else holding the link learns that it is not theirs, nothing of what
    # became of it (accepted, withdrawn, expired).
    if user.email != invitation.email:
        raise Forbidden(
            gettext(
                "This invitation was sent to another address. Sign in with the account"
                " of the address it came to."
            )
        )
    if invitation.accepted_at is not None or invitation.withdrawn_at is not None:
        raise _no_longer_valid()
    if invitation.expires_at <= utcnow():
        raise InvalidLink(gettext("This invitation has expired. Ask the council for a new one."))
    if user.email_verified_at is None:
        raise Forbidden(gettext("Confirm your email address first, then open the link again."))
    council = session.get(Council, invitation.council_id)
    # An invitation is the inviting admin's act: it lapses with their power to act.
    if not may_administer(session, invitation.invited_by, council):
        raise InvalidLink(gettext("The person who invited you no longer administers the council."))
    return invitation, council


def _described(invitation: Invitation, council: Council, *, held: bool = False) -> dict:
    return {
        "council": council.slug,
        "council_name": council.name,
        "role": invitation.role,
        "expires_at": invitation.expires_at,
        "held": held,
    }


def invitation_for(session: Session, settings: Settings, user: User, token: str) -> dict:
    """Which council and role the link offers `user`, and whether they hold it already
    (an invitation answers alike for every address, so one may reach a holder); the
    refusal accepting would meet."""
    invitation, council = _invitation_for(session, settings, user, token)
    held = holds_role(session, council, user.id, invitation.role)
    return _described(invitation, council, held=held)


def accept_invitation(session: Session, settings: Settings, user: User, token: str) -> dict:
    """Accept: the role is `user`'s, granted by the inviting admin. Once: of two
    acceptances at once, one wins and the other is refused."""
    invitation, council = _invitation_for(session, settings, user, token)
    now = utcnow()
    claimed = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.withdrawn_at.is_(None),
        )
        .values(accepted_at=now, accepted_by=user.id)
    ).rowcount
    if claimed != 1:
        session.rollback()
        raise _no_longer_valid()
    described = _described(invitation, council)
    give_role(session, council, user.id, invitation.role, by=invitation.invited_by)
    return described


def forget_settled_invitations(session: Session) -> int:
    """Delete the invitations settled more than SETTLED_INVITATIONS_KEPT ago (the
    delivery worker's sweep); how many."""
    before = utcnow() - SETTLED_INVITATIONS_KEPT
    gone = session.execute(
        delete(Invitation).where(
            or_(
                Invitation.accepted_at < before,
                Invitation.withdrawn_at < before,
                Invitation.expires_at < before,
            )
        )
    ).rowcount
    session.commit()
    return gone
