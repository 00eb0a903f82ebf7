"""The links in auth's emails (confirm an address, set a new password): itsdangerous
timed tokens salted per purpose, how they are made and read, and what each would do if
used now, which the page a link opens says at once."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from services.common.hashing import secret_digest

from .errors import InvalidLink, LinkUsed
from .models import User
from .settings import Settings

CONFIRM_LINK_TTL = timedelta(days=3)
RESET_LINK_TTL = timedelta(hours=1)


def link_serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    # One salt per purpose: a confirmation token is worthless as a reset token.
    return URLSafeTimedSerializer(settings.secret_key, salt=f"viche.auth.{purpose}")


def link_locale(session: Session, settings: Settings, token: str, purpose: str) -> str | None:
    """The language of the email a link came in (its account's), for the page it opens;
    None for a link that is not ours. Whether it still works, the form's POST decides."""
    try:
        data = link_serializer(settings, purpose).loads(token)
    except BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    return user.locale if user is not None else None


def load_link(settings: Settings, purpose: str, token: str, max_age: timedelta) -> dict:
    try:
        data = link_serializer(settings, purpose).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        raise InvalidLink(gettext("This link has expired. Ask for a new one.")) from exc
    except BadSignature as exc:
        raise InvalidLink(gettext("This link is not valid.")) from exc
    if not isinstance(data, dict):
        raise InvalidLink(gettext("This link is not valid."))
    return data


def _password_fingerprint(user: User) -> str:
    """Changes whenever the password does: a reset link works once."""
    return secret_digest(user.password_hash or "")[:16]


def confirmation_link(settings: Settings, user: User, address: str | None = None) -> str:
    token = link_serializer(settings, "confirm-email").dumps(
        {"u": user.id, "e": address or user.email, "n": user.link_nonce}
    )
    return f"{settings.public_url}/api/auth/email/confirm?token={token}"


def reset_link(settings: Settings, user: User) -> str:
    """A link that sets the account's password once: it stops working when the password
    changes (its fingerprint in the token)."""
    token = link_serializer(settings, "reset-password").dumps(
        {"u": user.id, "p": _password_fingerprint(user)}
    )
    return f"{settings.public_url}/api/auth/password/reset?token={token}"


def address_to_confirm(session: Session, settings: Settings, token: str) -> tuple[User, str]:
    """The account and the address a confirmation link would confirm now; LinkUsed when
    the address is confirmed already, InvalidLink when the link works no more. Reads only."""
    data = load_link(settings, "confirm-email", token, CONFIRM_LINK_TTL)
    user = session.get(User, data.get("u"))
    address = data.get("e")
    if (
        user is not None
        and user.deleted_at is None
        and user.email_verified_at is not None
        and address == user.email
        and user.link_nonce != data.get("n")
    ):
        raise LinkUsed(gettext("This link was used already: the address is confirmed. Sign in."))
    if (
        user is None
        or user.deleted_at is not None
        or address not in (user.email, user.pending_email)
        or user.link_nonce != data.get("n")
    ):
        raise InvalidLink(gettext("This link has been used already or is no longer valid."))
    return user, address


def account_to_reset(session: Session, settings: Settings, token: str) -> User:
    """The account whose password a reset link would set now; LinkUsed when the password
    was changed since the link was sent, InvalidLink when it works no more. Reads only."""
    data = load_link(settings, "reset-password", token, RESET_LINK_TTL)
    user = session.get(User, data.get("u"))
    if user is None or user.deleted_at is not None:
        raise InvalidLink(gettext("This link has been used already or is no longer valid."))
    if data.get("p") != _password_fingerprint(user):
        raise LinkUsed(
            gettext(
                "This link was used already: the password was changed after it was sent."
                " Sign in with the new password, or ask for a new link."
            )
        )
    return user


# What each link's page checks before it shows its form (a GET: nothing changes).
_LINK_CHECKS = {"confirm-email": address_to_confirm, "reset-password": account_to_reset}


def link_problem(
    session: Session, settings: Settings, token: str, purpose: str
) -> InvalidLink | None:
    """Why a link opened just now will not work (LinkUsed when its work is done), for its
    page to say at once instead of showing a form; None while it works. Changes nothing."""
    try:
        _LINK_CHECKS[purpose](session, settings, token)
    except InvalidLink as problem:
        return problem
    return None
