"""Councils and roles, free of HTTP.

Who may change roles is decided from the database, not from the caller's access token:
a token lives up to 15 minutes, and an admin whose role was revoked a minute ago must
not grant roles with the token they still hold.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.config import SUPPORTED_LOCALES
from services.common.councils import is_council_slug
from services.common.db import insert_unless_present
from services.common.errors import N_, Conflict, Forbidden, NotFound, Problem
from services.common.timeutil import is_time_zone, utcnow

from ..accounts.models import User
from ..keys import withdraw_access_tokens
from .models import ROLES, Council, CouncilRole, Invitation, PlatformAdmin, RoleChange


class InvalidCouncil(Problem):
    slug, status, title = "invalid-council", 422, N_("The council is not valid")


def roles_for_user(session: Session, user_id: int) -> dict[str, list[str]]:
    """{council slug: [roles]} for the access token."""
    rows = session.execute(
        select(Council.slug, CouncilRole.role)
        .join(CouncilRole, CouncilRole.council_id == Council.id)
        .where(CouncilRole.user_id == user_id)
        .order_by(Council.slug, CouncilRole.role)
    ).all()
    roles: dict[str, list[str]] = {}
    for slug, role in rows:
        roles.setdefault(slug, []).append(role)
    return roles


def is_platform_admin(session: Session, user_id: int) -> bool:
    return session.get(PlatformAdmin, user_id) is not None


def council_by_slug(session: Session, slug: str) -> Council:
    council = session.scalar(select(Council).where(Council.slug == slug))
    if council is None:
        raise NotFound(gettext("There is no council with this address."))
    return council


def _council_errors(
    *, name: str | None = None, default_language: str | None = None, time_zone: str | None = None
) -> dict[str, list[str]]:
    """What is wrong with the attributes given (None: not given)."""
    errors = {}
    if name is not None and not name.strip():
        errors["name"] = [gettext("Give the council a name.")]
    elif name is not None and len(name) > 200:
        errors["name"] = [gettext("Give a name of at most 200 characters.")]
    if default_language is not None and default_language not in SUPPORTED_LOCALES:
        errors["default_language"] = [gettext("Choose one of the supported languages.")]
    if time_zone is not None and not is_time_zone(time_zone):
        errors["time_zone"] = [gettext("Give a time zone such as Europe/Kyiv.")]
    return errors


def create_council(
    session: Session,
    *,
    slug: str,
    name: str,
    default_language: str,
    time_zone: str | None = None,
) -> Council:
    """A new council; slugs are lowercase letters, digits and hyphens. Without a time
    zone it gets the installation's (VICHE_DEFAULT_TIME_ZONE)."""
    time_zone = time_zone if time_zone is not None else current_app.config["DEFAULT_TIME_ZONE"]
    errors = _council_errors(name=name, default_language=default_language, time_zone=time_zone)
    if not is_council_slug(slug):
        errors["slug"] = [gettext("Use lowercase letters, digits and hyphens.")]
    if errors:
        raise InvalidCouncil(gettext("The council is not valid."), errors=errors)
    council = Council(
        slug=slug, name=name.strip(), default_language=default_language, time_zone=time_zone
    )
    session.add(council)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(gettext("A council with this address exists already.")) from exc
    return council


def update_council(
    session: Session, *, actor_id: int | None, slug: str, changes: dict, check_only: bool = False
) -> Council:
    """Change a council's name, default language or time zone (its admins, platform
    admins, or the operator's CLI with `actor_id` None); all or nothing. `check_only`:
    the changes would be taken; the council as it stands."""
    council = council_by_slug(session, slug)
    _require_admin(session, actor_id, council, gettext("Only this council's admins may change it."))
    errors = _council_errors(**changes)
    if errors:
        raise InvalidCouncil(gettext("The council is not valid."), errors=errors)
    if check_only:
        return council
    for key, value in changes.items():
        setattr(council, key, value.strip() if key == "name" else value)
    session.commit()
    return council


def holds_role(session: Session, council: Council, user_id: int, role: str) -> bool:
    """Whether the account holds `role` in the council."""
    held = session.scalar(
        select(CouncilRole.id).where(
            CouncilRole.council_id == council.id,
            CouncilRole.user_id == user_id,
            CouncilRole.role == role,
        )
    )
    return held is not None


def may_administer(session: Session, actor_id: int, council: Council) -> bool:
    """Council admins administer their own council; platform admins every council."""
    return is_platform_admin(session, actor_id) or holds_role(session, council, actor_id, "admin")


def _require_admin(
    session: Session, actor_id: int | None, council: Council, refusal: str | None = None
) -> None:
    if actor_id is not None and not may_administer(session, actor_id, council):
        raise Forbidden(refusal or gettext("Only this council's admins may change its roles."))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise NotFound(gettext("There is no such role."))


def grant_role(
    session: Session, *, actor_id: int | None, slug: str, user_id: int, role: str
) -> None:
    """Give `user_id` a role in the council: platform admins, or the operator's CLI
    (`actor_id` None). A council's admins invite by email instead (invitations.py):
    granting to any account number would tell them whose account it is."""
    _check_role(role)
    council = council_by_slug(session, slug)
    if actor_id is not None and not is_platform_admin(session, actor_id):
        raise Forbidden(
            gettext("Invite people by email: only platform admins grant roles by account number.")
        )
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound(gettext("There is no such account."))
    give_role(session, council, user_id, role, by=actor_id)


def give_role(session: Session, council: Council, user_id: int, role: str, by: int | None) -> None:
    """The role is the user's from now on, recorded as `by`'s act (None: the operator's
    CLI); committed. Held already, nothing changes: one grant, one RoleChange, however
    many grant it at once. A pending invitation of the account's confirmed address to
    the role is withdrawn in the same transaction: it has nothing left to offer, and
    would otherwise wait on the roles page until it expired."""
    user = session.get(User, user_id)
    # Withdrawn, not accepted: the person accepted nothing, and the invitation is the
    # inviting admin's act while the role came from `by` (RoleChange says so). The
    # invitations first, as accepting one locks it first: the same order, no deadlock.
    if user is not None and user.email_verified_at is not None:
        withdraw_pending_invitations(session, council.id, user.email, role)
    granted = session.execute(
        insert_unless_present(session, CouncilRole)
        .values(council_id=council.id, user_id=user_id, role=role, granted_by=by)
        .returning(CouncilRole.id)
    ).first()
    if granted is not None:
        session.add(
            RoleChange(
                council_id=council.id, user_id=user_id, role=role, action="grant", by_user_id=by
            )
        )
    session.commit()


def invitation_pending(council_id: int):
    """The condition an invitation of the council that waits for an answer meets: not
    accepted, withdrawn or expired."""
    return and_(
        Invitation.council_id == council_id,
        Invitation.accepted_at.is_(None),
        Invitation.withdrawn_at.is_(None),
        Invitation.expires_at > utcnow(),
    )


def withdraw_pending_invitations(session: Session, council_id: int, email: str, role: str) -> None:
    """Withdraw the council's pending invitations of `email` to `role` (their links stop
    working); not committed."""
    # The conditions on the row itself, not an IN (subquery): on PostgreSQL an UPDATE
    # that waited for an acceptance re-checks them on the row as committed, and so
    # leaves an invitation accepted meanwhile alone.
    session.execute(
        update(Invitation)
        .where(invitation_pending(council_id), Invitation.email == email, Invitation.role == role)
        .values(withdrawn_at=utcnow())
    )


def revoke_role(
    session: Session, *, actor_id: int | None, slug: str, user_id: int, role: str
) -> None:
    """Take a role away; revoking one that is not held changes nothing."""
    _check_role(role)
    council = council_by_slug(session, slug)
    _require_admin(session, actor_id, council)
    held = session.scalar(
        select(CouncilRole).where(
            CouncilRole.council_id == council.id,
            CouncilRole.user_id == user_id,
            CouncilRole.role == role,
        )
    )
    if held is None:
        return
    session.delete(held)
    session.add(
        RoleChange(
            council_id=council.id, user_id=user_id, role=role, action="revoke", by_user_id=actor_id
        )
    )
    # Tokens that still name the role stop working; a fresh one names what is left.
    withdraw_access_tokens(session, user_id)
    session.commit()


def council_roles(session: Session, *, actor_id: int, slug: str) -> list[dict]:
    """Who holds which role in the council (for its admins)."""
    council = council_by_slug(session, slug)
    _require_admin(session, actor_id, council)
    rows = session.execute(
        select(CouncilRole, User.name)
        .join(User, User.id == CouncilRole.user_id)
        .where(CouncilRole.council_id == council.id)
        .order_by(CouncilRole.role, CouncilRole.user_id)
    ).all()
    return [
        {"user_id": row.user_id, "name": name, "role": row.role, "granted_at": row.granted_at}
        for row, name in rows
    ]


def grant_platform_admin(session: Session, user_id: int) -> None:
    if session.get(PlatformAdmin, user_id) is None:
        session.add(PlatformAdmin(user_id=user_id))
        session.commit()


def revoke_platform_admin(session: Session, user_id: int) -> bool:
    """Whether the account was a platform admin; its tokens that say so stop working."""
    held = session.get(PlatformAdmin, user_id)
    if held is None:
        return False
    session.delete(held)
    withdraw_access_tokens(session, user_id)
    session.commit()
    return True
