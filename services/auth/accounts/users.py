"""The account's row: found from an access token's subject or by address, and locked
while a limit on what the account does is counted."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import NoSuchAccount
from .models import User


def account_id(subject: str) -> int:
    """The account an access token's subject names; 401 for a subject that names none
    (auth signs only account ids, but a token is input all the same)."""
    if not (subject.isascii() and subject.isdigit() and len(subject) < 10):
        raise NoSuchAccount(gettext("This account no longer exists."))
    return int(subject)


def active_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))


def one_at_a_time(session: Session, user_id: int) -> None:
    """Lock the account's row until the transaction ends: what it does in parallel queues
    here (PostgreSQL; SQLite takes one write at a time), so a limit counted after this
    sees every earlier attempt."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())
