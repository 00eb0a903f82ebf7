"""Signing in and staying signed in: the access token's claims, token pairs, refresh-token
rotation (a reused token revokes its family), signing out one session or every one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.common.hashing import keyed_hash, mailbox_hash, secret_digest
from services.common.timeutil import utcnow

from ..councils.domain import is_platform_admin, roles_for_user
from ..keys import issue_access_token, withdraw_access_tokens, withdraw_session
from .errors import InvalidCredentials, InvalidRefreshToken
from .models import RefreshToken, User
from .passwords import hash_password, needs_rehash, verify_password
from .settings import Settings
from .users import active_user_by_email

REFRESH_TTL = timedelta(days=30)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def claims_for(session: Session, settings: Settings, user: User) -> dict:
    """The access token's claims: what other services may know about this person. The
    keyed hashes say "the same person" across accounts: one mailbox (whatever +tag or
    dots an address adds) or one phone, one vote."""
    verified = user.email_verified_at is not None
    return {
        "email_verified": verified,
        "email_hash": mailbox_hash(settings.hash_key, user.email) if verified else None,
        "phone_verified": user.phone_verified_at is not None,
        "roles": roles_for_user(session, user.id),
        "platform_admin": is_platform_admin(session, user.id),
        "phone_hash": user.phone_hash if user.phone_verified_at else None,
        "name": user.name or "",
        "locale": user.locale,
    }


def session_id(settings: Settings, family: str) -> str:
    """The `sid` claim of a session's access tokens: names its refresh-token family for
    withdrawal at sign-out, without being anything a token could be made from."""
    return keyed_hash(settings.hash_key, "session", family)[:22]


def issue_tokens(session: Session, settings: Settings, user: User, family: str | None) -> TokenPair:
    """A new pair for the session `family` names, or for a new session; commits."""
    refresh = secrets.token_urlsafe(32)
    family = family or secrets.token_hex(16)
    session.add(
        RefreshToken(
            user_id=user.id,
            family=family,
            token_hash=secret_digest(refresh),
            expires_at=utcnow() + REFRESH_TTL,
        )
    )
    access = issue_access_token(
        session,
        secret=settings.secret_key,
        issuer=settings.issuer,
        audience=settings.audience,
        subject=str(user.id),
        claims={**claims_for(session, settings, user), "sid": session_id(settings, family)},
    )
    session.commit()
    return TokenPair(access, refresh, 15 * 60)


def login(session: Session, settings: Settings, *, email: str, password: str) -> TokenPair:
    """Tokens for a correct address and password; one answer for every wrong pair."""
    user = active_user_by_email(session, email)
    if not verify_password(user.password_hash if user else None, password):
        raise InvalidCredentials(gettext("The email address or the password is wrong."))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return issue_tokens(session, settings, user, family=None)


def refresh(session: Session, settings: Settings, token: str) -> TokenPair:
    """Rotate a refresh token. Presenting a used one revokes its whole family."""
    row = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == secret_digest(token))
    )
    now = utcnow()
    invalid = InvalidRefreshToken(gettext("Log in again."))
    if row is None or row.revoked_at is not None or row.expires_at < now:
        raise invalid
    # The conditional update makes rotation exclusive: of two uses, one wins and the
    # other is a reuse, even when they arrive together.
    # A sign-out committed meanwhile (revoked_at) wins too: no new pair for its session.
    claimed = session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == row.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    ).rowcount
    if claimed != 1 and _signed_out(session, row.id):
        session.rollback()
        raise invalid
    if claimed != 1:  # a stolen token, perhaps: its thief's access tokens go too
        revoke_family(session, row.family)
        withdraw_access_tokens(session, row.user_id)
        session.commit()
        raise invalid
    user = session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        session.commit()
        raise invalid
    return issue_tokens(session, settings, user, family=row.family)


def _signed_out(session: Session, token_id: int) -> bool:
    """Whether the refresh token's session was ended (read afresh, not from the session's
    identity map)."""
    return (
        session.scalar(
            select(RefreshToken.revoked_at)
            .where(RefreshToken.id == token_id)
            .execution_options(populate_existing=True)
        )
        is not None
    )


def revoke_family(session: Session, family: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def logout(session: Session, settings: Settings, token: str) -> None:
    """End the session this refresh token belongs to (silently for unknown tokens): its
    refresh tokens are revoked and its access tokens withdrawn, the person's other
    sessions (other devices) go on."""
    row = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == secret_digest(token))
    )
    if row is None:
        return
    # A renewal of this session under way finishes first (its claim locks a row of the
    # family): the pair it issues is then among those revoked here, never left alive.
    session.execute(
        select(RefreshToken.id).where(RefreshToken.family == row.family).with_for_update()
    ).all()
    revoke_family(session, row.family)
    # Each refresh token was issued with an access token: the newest is the last to expire.
    last_issued = session.scalar(
        select(func.max(RefreshToken.created_at)).where(RefreshToken.family == row.family)
    )
    withdraw_session(session, session_id(settings, row.family), last_issued)
    session.commit()


def revoke_all_sessions(session: Session, user_id: int) -> None:
    """Sign the person out everywhere: refresh tokens revoked, access tokens withdrawn."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    withdraw_access_tokens(session, user_id)
