"""Opening an account and confirming its address (or a new one) with the emailed link.

Nothing here tells an outsider whether an address has an account.
"""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.hashing import mailbox_hash
from services.common.timeutil import utcnow

from ..messaging import enqueue_email
from .errors import InvalidLink
from .links import address_to_confirm, confirmation_link
from .models import User
from .passwords import check_new_password, hash_password, require_password
from .settings import Settings
from .users import active_user_by_email


def register(
    session: Session,
    settings: Settings,
    *,
    name: str,
    email: str,
    password: str,
    phone: str,
    locale: str,
) -> None:
    """Create an account and send the confirmation link; for a known address, a notice.

    Both paths do the same work (one argon2 hash, one email), so neither the answer nor
    its timing tells who is registered.
    """
    check_new_password(password, email, name)
    password_hash = hash_password(password)
    existing = active_user_by_email(session, email)
    if existing is not None:
        enqueue_email(
            session,
            to=email,
            template="already_registered",
            locale=existing.locale,
            context={
                # An address never confirmed may be someone else's: not told the name.
                "name": existing.name if existing.email_verified_at is not None else None,
                "login_url": f"{settings.public_url}/",
                "reset_url": f"{settings.public_url}/",
            },
            user_id=existing.id,
        )
        session.commit()
        return
    user = User(
        name=name,
        email=email,
        phone=phone,
        password_hash=password_hash,
        locale=locale,
        email_hash=mailbox_hash(settings.hash_key, email),
        link_nonce=0,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:  # registered a moment ago by a concurrent request
        session.rollback()
        return register(
            session, settings, name=name, email=email, password=password, phone=phone, locale=locale
        )
    enqueue_email(
        session,
        to=email,
        template="confirm_email",
        locale=locale,
        context={"link": confirmation_link(settings, user)},
        user_id=user.id,
    )
    session.commit()


def confirm_email(session: Session, settings: Settings, token: str, password: str) -> User:
    """Mark the address in the link as confirmed; the link works once, and only with the
    account's password: whoever opened an account (or asked for a change) in a stranger's
    name must not have it confirmed by the stranger's click."""
    user, address = address_to_confirm(session, settings, token)
    require_password(user, password)
    if address == user.pending_email:  # a change of address, confirmed from the new one
        user.email, user.pending_email = address, None
        user.email_hash = mailbox_hash(settings.hash_key, address)
    user.email_verified_at = utcnow()
    user.link_nonce += 1
    try:
        session.commit()
    except IntegrityError as exc:  # the address was registered meanwhile by someone else
        session.rollback()
        raise InvalidLink(
            gettext("This link has been used already or is no longer valid.")
        ) from exc
    return user
