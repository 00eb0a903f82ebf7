"""Verifying the account's phone with a 6-digit code by SMS: cooldowns, daily caps per
number, account and client, the installation's SMS budget, and a lock after five wrong
codes."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.errors import Problem
from services.common.hashing import keyed_hash
from services.common.timeutil import utcnow

from ..messaging import enqueue_sms
from .errors import CodeExpired, PhoneState, PhoneTaken, TooSoon, VerificationLocked, WrongCode
from .models import PhoneVerification, User
from .settings import Settings
from .users import one_at_a_time

CODE_TTL = timedelta(minutes=10)
# One code a minute to an account (what the refusal below tells the person).
CODE_COOLDOWN = timedelta(seconds=60)
CODE_MAX_FAILURES = 5
CODE_LOCK = timedelta(minutes=30)
# Daily SMS caps: nobody may use us to send SMS in bulk (SMS pumping).
SMS_PER_PHONE_PER_DAY = 5
SMS_PER_ACCOUNT_PER_DAY = 5
SMS_PER_CLIENT_PER_DAY = 20

log = logging.getLogger("viche.accounts")


def _code_hash(settings: Settings, verification_salt: str, code: str) -> str:
    return (
        verification_salt
        + "$"
        + keyed_hash(settings.hash_key, "sms-code", f"{verification_salt}:{code}")
    )


def _failures_in_lock_window(session: Session, user_id: int) -> int:
    since = utcnow() - CODE_LOCK
    return session.scalar(
        select(func.coalesce(func.sum(PhoneVerification.failed_attempts), 0)).where(
            PhoneVerification.user_id == user_id, PhoneVerification.last_failed_at > since
        )
    )


def _locked() -> Problem:
    return VerificationLocked(
        gettext("Too many wrong codes. Try again in 30 minutes."), headers={"Retry-After": "1800"}
    )


def phone_to_verify(user: User) -> str | None:
    """A new number waiting to replace the verified one, or the unverified number."""
    if user.pending_phone:
        return user.pending_phone
    return user.phone if user.phone_verified_at is None else None


def start_phone_verification(session: Session, settings: Settings, user: User, client: str) -> None:
    """Send a 6-digit code to the account's phone, within cooldowns and daily caps."""
    target = phone_to_verify(user)
    if target is None:
        raise PhoneState(gettext("There is no phone number waiting for verification."))
    # Texts cost money: only a person who has shown an address of their own gets them.
    if user.email_verified_at is None:
        raise PhoneState(gettext("Confirm your email address before verifying your phone."))
    if _failures_in_lock_window(session, user.id) >= CODE_MAX_FAILURES:
        raise _locked()
    now = utcnow()
    day = now - timedelta(days=1)

    def sent_since(since, *conditions) -> int:
        return session.scalar(
            select(func.count(PhoneVerification.id)).where(
                PhoneVerification.created_at > since, *conditions
            )
        )

    if sent_since(now - CODE_COOLDOWN, PhoneVerification.user_id == user.id):
        raise TooSoon(
            gettext("A code was sent less than a minute ago. Wait a little."),
            headers={"Retry-After": "60"},
        )
    if (
        sent_since(day, PhoneVerification.phone == target) >= SMS_PER_PHONE_PER_DAY
        or sent_since(day, PhoneVerification.user_id == user.id) >= SMS_PER_ACCOUNT_PER_DAY
        or sent_since(day, PhoneVerification.client == client) >= SMS_PER_CLIENT_PER_DAY
    ):
        raise TooSoon(
            gettext("Too many codes were sent today. Try again tomorrow."),
            headers={"Retry-After": "86400"},
        )
    # Many accounts from many places at once is what SMS pumping looks like: past the
    # installation's budget nobody gets a code, and the operator is told.
    hour = now - timedelta(hours=1)
    if sent_since(hour) >= settings.sms_per_hour or sent_since(day) >= settings.sms_per_day:
        log.warning("SMS budget reached: no codes are sent (VICHE_SMS_PER_HOUR/_PER_DAY)")
        raise TooSoon(
            gettext("Too many codes are being sent just now. Try again in an hour."),
            headers={"Retry-After": "3600"},
        )
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(8)
    session.add(
        PhoneVerification(
            user_id=user.id,
            phone=target,
            client=client[:64],
            code_hash=_code_hash(settings, salt, code),
            expires_at=now + CODE_TTL,
            failed_attempts=0,
            created_at=now,
        )
    )
    enqueue_sms(
        session,
        to=target,
        template="phone_code",
        locale=user.locale,
        context={"code": code},
        user_id=user.id,
    )
    session.commit()


def verify_phone(session: Session, settings: Settings, user: User, code: str) -> None:
    """Check the code; five wrong ones lock verification for half an hour."""
    one_at_a_time(session, user.id)  # guesses sent in parallel each see the failures before
    if _failures_in_lock_window(session, user.id) >= CODE_MAX_FAILURES:
        raise _locked()
    now = utcnow()
    verification = session.scalar(
        select(PhoneVerification)
        .where(
            PhoneVerification.user_id == user.id,
            PhoneVerification.used_at.is_(None),
            PhoneVerification.phone == phone_to_verify(user),
        )
        .order_by(PhoneVerification.created_at.desc())
        .limit(1)
    )
    if verification is None or verification.expires_at < now:
        raise CodeExpired(gettext("The code has expired. Ask for a new one."))
    salt = verification.code_hash.split("$", 1)[0]
    if not hmac.compare_digest(verification.code_hash, _code_hash(settings, salt, code)):
        verification.failed_attempts = (
            PhoneVerification.failed_attempts + 1
        )  # in SQL: no lost update
        verification.last_failed_at = now
        session.flush()
        # Counted before the commit lets the next guess in: under the row lock this is
        # this guess's own tally, so the fifth wrong code, and only it, locks.
        failures = _failures_in_lock_window(session, user.id)
        session.commit()
        if failures >= CODE_MAX_FAILURES:
            raise _locked()
        raise WrongCode(
            gettext("The code is wrong."), errors={"code": [gettext("The code is wrong.")]}
        )
    verification.used_at = now
    user.phone, user.pending_phone = verification.phone, None
    user.phone_verified_at = now
    user.phone_hash = keyed_hash(settings.hash_key, "phone", verification.phone)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise PhoneTaken(gettext("This phone number already verifies another account.")) from exc
