"""A lost link or a forgotten password: the confirmation link again, a reset link, and
setting a new password with it.

Anyone may ask for either for any address. The request writes a `mail_requests` row the
same way for every address and the delivery worker answers it (`answer_mail_requests`),
so that neither the answer nor its timing tells who has an account.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.orm import Session

from services.common.db import UtcDateTime
from services.common.timeutil import utcnow

from ..messaging import enqueue_email
from ..messaging.models import OutboxMessage
from .links import account_to_reset, confirmation_link, reset_link
from .models import MailRequest, User
from .passwords import check_new_password, hash_password
from .sessions import revoke_all_sessions
from .settings import Settings
from .users import active_user_by_email

RESEND_COOLDOWN = timedelta(seconds=60)
MAIL_REQUESTS_AT_ONCE = 50

log = logging.getLogger("viche.accounts")


def resend_confirmation(session: Session, email: str) -> None:
    """Ask for the confirmation link again (answered by `answer_mail_requests`)."""
    _ask_for_mail(session, "confirm_email", email)


def request_password_reset(session: Session, email: str) -> None:
    """Ask for a reset link (answered by `answer_mail_requests`); the caller answers 202."""
    _ask_for_mail(session, "reset_password", email)


def _ask_for_mail(session: Session, kind: str, email: str) -> None:
    """The same statement and commit for every address: an account or none, the request
    takes the same time, and what follows happens in the delivery worker. A request like
    one still waiting adds nothing (asking a thousand times is waiting once)."""
    waiting = select(MailRequest.id).where(MailRequest.kind == kind, MailRequest.email == email)
    session.execute(
        insert(MailRequest).from_select(
            ["kind", "email", "created_at"],
            select(literal(kind), literal(email), literal(utcnow(), UtcDateTime())).where(
                ~waiting.exists()
            ),
        )
    )
    session.commit()


def _recently_sent(session: Session, user_id: int, template: str, within: timedelta) -> bool:
    since = utcnow() - within
    return bool(
        session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.user_id == user_id,
                OutboxMessage.template == template,
                OutboxMessage.created_at > since,
            )
        )
    )


def _account_asked_for(session: Session, email: str, asked_at: datetime) -> User | None:
    """The account a request made at `asked_at` was about: one opened since (the address
    registered after a stranger asked, the request waiting meanwhile) was not asked for."""
    user = active_user_by_email(session, email)
    if user is None or user.created_at is None or user.created_at > asked_at:
        return None
    return user


def _send_confirmation_again(
    session: Session, settings: Settings, email: str, asked_at: datetime
) -> None:
    """Send the link again to an unconfirmed address, at most once a minute; silent else."""
    user = _account_asked_for(session, email, asked_at)
    if user is None or user.email_verified_at is not None:
        return
    if _recently_sent(session, user.id, "confirm_email", RESEND_COOLDOWN):
        return
    enqueue_email(
        session,
        to=user.email,
        template="confirm_email",
        locale=user.locale,
        context={"link": confirmation_link(settings, user)},
        user_id=user.id,
    )
    session.commit()


def _send_reset_link(session: Session, settings: Settings, email: str, asked_at: datetime) -> None:
    """Email a reset link if the address has an account, at most once a minute."""
    user = _account_asked_for(session, email, asked_at)
    if user is None or _recently_sent(session, user.id, "reset_password", RESEND_COOLDOWN):
        return
    enqueue_email(
        session,
        to=user.email,
        template="reset_password",
        locale=user.locale,
        context={
            # An address never confirmed may be someone else's: it is not told the name.
            "name": user.name if user.email_verified_at is not None else None,
            "link": reset_link(settings, user),
        },
        user_id=user.id,
    )
    session.commit()


# What each kind of MailRequest does, once the delivery worker takes it up.
_MAIL_REQUESTS = {"confirm_email": _send_confirmation_again, "reset_password": _send_reset_link}


def answer_mail_requests(session: Session, settings: Settings) -> int:
    """Queue the emails that waiting requests call for (oldest first); how many were
    taken up. Each is deleted in the transaction that queues its email, and only by the
    worker whose DELETE removed it, so none is answered twice or lost. A request that
    cannot be answered (a kind this version does not know, a fault while answering) is
    logged and dropped: it never holds up the others, nor the delivery after them."""
    waiting = session.execute(
        select(MailRequest.id, MailRequest.kind, MailRequest.email, MailRequest.created_at)
        .order_by(MailRequest.id)
        .limit(MAIL_REQUESTS_AT_ONCE)
    ).all()
    session.rollback()  # each request below in a transaction of its own
    taken = 0
    for request_id, kind, email, asked_at in waiting:
        try:
            claimed = session.execute(delete(MailRequest).where(MailRequest.id == request_id))
            if claimed.rowcount != 1:  # another worker has it
                session.rollback()
                continue
            _MAIL_REQUESTS[kind](session, settings, email, asked_at)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("mail request %s (%r) could not be answered: dropped", request_id, kind)
            session.execute(delete(MailRequest).where(MailRequest.id == request_id))
            session.commit()
        taken += 1
    return taken


def reset_password(session: Session, settings: Settings, token: str, password: str) -> None:
    """Set a new password from a reset link (once); every session is signed out."""
    user = account_to_reset(session, settings, token)
    check_new_password(password, user.email or "", user.name or "")
    set_password(session, user, password)
    session.commit()


def set_password(session: Session, user: User, password: str) -> None:
    """A new password: reset links sent before it (they carry the old one's fingerprint)
    and confirmation links stop working, and every session is signed out."""
    user.password_hash = hash_password(password)
    user.link_nonce += 1
    revoke_all_sessions(session, user.id)
