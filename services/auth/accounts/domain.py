"""What residents do with their accounts, free of HTTP.

Each function takes plain values and a session, commits what it changed (with the
outbox message it causes, in the same transaction) and raises a Problem when it cannot.
Nothing here tells an outsider whether an address has an account.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.db import UtcDateTime
from services.common.errors import N_, Problem
from services.common.hashing import keyed_hash, mailbox_hash, secret_digest
from services.common.timeutil import utcnow

from ..councils.domain import is_platform_admin, roles_for_user
from ..keys import issue_access_token, withdraw_access_tokens, withdraw_session
from ..messaging import enqueue_email, enqueue_sms
from ..messaging.models import OutboxMessage
from .models import MailRequest, PhoneVerification, RefreshToken, User
from .passwords import hash_password, needs_rehash, password_problem, verify_password

REFRESH_TTL = timedelta(days=30)
CONFIRM_LINK_TTL = timedelta(days=3)
RESET_LINK_TTL = timedelta(hours=1)
RESEND_COOLDOWN = timedelta(seconds=60)
CODE_TTL = timedelta(minutes=10)
CODE_MAX_FAILURES = 5
CODE_LOCK = timedelta(minutes=30)
# Daily SMS caps: nobody may use us to send SMS in bulk (SMS pumping).
SMS_PER_PHONE_PER_DAY = 5
SMS_PER_ACCOUNT_PER_DAY = 5
SMS_PER_CLIENT_PER_DAY = 20

log = logging.getLogger("viche.accounts")


class NoSuchAccount(Problem):
    slug, status = "unauthorized", 401


def account_id(subject: str) -> int:
    """The account an access token's subject names; 401 for a subject that names none
    (auth signs only account ids, but a token is input all the same)."""
    if not (subject.isascii() and subject.isdigit() and len(subject) < 10):
        raise NoSuchAccount(gettext("This account no longer exists."))
    return int(subject)


class InvalidLink(Problem):
    slug, status, title = "invalid-link", 400, N_("The link is not valid")


class LinkUsed(InvalidLink):
    """The link did its work already (the address it names is confirmed; the password
    was set since it was sent): its holder is told so, and to sign in. The same problem
    type as any other spent link, with `"used": true`."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, used=True)


class InvalidCredentials(Problem):
    slug, status, title = "invalid-credentials", 401, N_("Sign-in failed")


class InvalidRefreshToken(Problem):
    slug, status, title = "invalid-refresh-token", 401, N_("The session has ended")


class TooSoon(Problem):
    slug, status = "rate-limited", 429


class WeakPassword(Problem):
    slug = "validation-failed"


class VerificationLocked(Problem):
    slug, status, title = "verification-locked", 429, N_("Verification is locked")


class WrongCode(Problem):
    slug, status, title = "wrong-code", 400, N_("The code is wrong")


class CodeExpired(Problem):
    slug, status, title = "code-expired", 400, N_("The code has expired")


class PhoneState(Problem):
    slug, status, title = "phone-state", 409, N_("The phone cannot be verified now")


class PhoneTaken(Problem):
    slug, status, title = "phone-taken", 409, N_("The phone number is taken")


@dataclass(frozen=True)
class Settings:
    """What the domain needs of the app's config."""

    secret_key: str
    hash_key: str
    issuer: str
    audience: str
    public_url: str
    # Every SMS the installation sends, whoever asks: the bill's ceiling.
    sms_per_hour: int = 300
    sms_per_day: int = 3000

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(
            config["SECRET_KEY"],
            config["HASH_KEY"],
            config["JWT_ISSUER"],
            config["JWT_AUDIENCE"],
            config["PUBLIC_URL"],
            config.get("SMS_PER_HOUR", 300),
            config.get("SMS_PER_DAY", 3000),
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


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


def _check_password(password: str, email: str, name: str, field: str = "password") -> None:
    """A WeakPassword, its reason under `field`, for a new password the rules refuse."""
    reason = password_problem(password, email=email, name=name)
    if reason is None:
        return
    message = {
        "too-short": gettext("Use at least 10 characters."),
        "too-long": gettext("Use at most 256 characters."),
        "too-common": gettext("This password is too easy to guess. Choose another."),
    }[reason]
    raise WeakPassword(gettext("The password is not accepted."), errors={field: [message]})


def active_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email, User.deleted_at.is_(None)))


def confirmation_link(settings: Settings, user: User, address: str | None = None) -> str:
    token = link_serializer(settings, "confirm-email").dumps(
        {"u": user.id, "e": address or user.email, "n": user.link_nonce}
    )
    return f"{settings.public_url}/api/auth/email/confirm?token={token}"


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
    _check_password(password, email, name)
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


def _confirmation(session: Session, settings: Settings, token: str) -> tuple[User, str]:
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


def confirm_email(session: Session, settings: Settings, token: str, password: str) -> User:
    """Mark the address in the link as confirmed; the link works once, and only with the
    account's password: whoever opened an account (or asked for a change) in a stranger's
    name must not have it confirmed by the stranger's click."""
    user, address = _confirmation(session, settings, token)
    _require_password(user, password)
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


def resend_confirmation(session: Session, email: str) -> None:
    """Ask for the confirmation link again (answered by `answer_mail_requests`)."""
    _ask_for_mail(session, "confirm_email", email)


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


def _issue(session: Session, settings: Settings, user: User, family: str | None) -> TokenPair:
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
    return _issue(session, settings, user, family=None)


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
    return _issue(session, settings, user, family=row.family)


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


def request_password_reset(session: Session, email: str) -> None:
    """Ask for a reset link (answered by `answer_mail_requests`); the caller answers 202."""
    _ask_for_mail(session, "reset_password", email)


def _send_reset_link(session: Session, settings: Settings, email: str, asked_at: datetime) -> None:
    """Email a reset link if the address has an account, at most once a minute."""
    user = _account_asked_for(session, email, asked_at)
    if user is None or _recently_sent(session, user.id, "reset_password", RESEND_COOLDOWN):
        return
    token = link_serializer(settings, "reset-password").dumps(
        {"u": user.id, "p": _password_fingerprint(user)}
    )
    enqueue_email(
        session,
        to=user.email,
        template="reset_password",
        locale=user.locale,
        context={
            # An address never confirmed may be someone else's: it is not told the name.
            "name": user.name if user.email_verified_at is not None else None,
            "link": f"{settings.public_url}/api/auth/password/reset?token={token}",
        },
        user_id=user.id,
    )
    session.commit()


# What each kind of MailRequest does, once the delivery worker takes it up.
_MAIL_REQUESTS = {"confirm_email": _send_confirmation_again, "reset_password": _send_reset_link}
MAIL_REQUESTS_AT_ONCE = 50


def _account_asked_for(session: Session, email: str, asked_at: datetime) -> User | None:
    """The account a request made at `asked_at` was about: one opened since (the address
    registered after a stranger asked, the request waiting meanwhile) was not asked for."""
    user = active_user_by_email(session, email)
    if user is None or user.created_at is None or user.created_at > asked_at:
        return None
    return user


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


def _reset_account(session: Session, settings: Settings, token: str) -> User:
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


def reset_password(session: Session, settings: Settings, token: str, password: str) -> None:
    """Set a new password from a reset link (once); every session is signed out."""
    user = _reset_account(session, settings, token)
    _check_password(password, user.email or "", user.name or "")
    _set_password(session, user, password)
    session.commit()


def _set_password(session: Session, user: User, password: str) -> None:
    """A new password: reset links sent before it (they carry the old one's fingerprint)
    and confirmation links stop working, and every session is signed out."""
    user.password_hash = hash_password(password)
    user.link_nonce += 1
    revoke_all_sessions(session, user.id)


# What each link's page checks before it shows its form (a GET: nothing changes).
_LINK_CHECKS = {"confirm-email": _confirmation, "reset-password": _reset_account}


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


def change_password(
    session: Session, settings: Settings, user: User, *, current: str, new: str
) -> TokenPair:
    """A signed-in person's new password, given the current one. Every session is signed
    out and the caller's goes on with the pair returned; the account's address is told,
    so that its owner learns of a change they did not make."""
    # Two changes at once take turns (PostgreSQL; SQLite writes one at a time): the later
    # one checks the password the earlier one set, and its sign-out includes the earlier
    # one's new session.
    session.refresh(user, with_for_update=True)
    _require_password(user, current, field="current_password")
    _check_password(new, user.email or "", user.name or "", field="new_password")
    _set_password(session, user, new)
    confirmed = user.email_verified_at is not None
    enqueue_email(
        session,
        to=user.email,
        template="password_changed",
        locale=user.locale,
        # An address never confirmed may be someone else's: it is not told the name.
        context={
            "name": user.name if confirmed else None,
            "reset_url": f"{settings.public_url}/password/forgot?lang={user.locale}",
        },
        user_id=user.id,
    )
    return _issue(session, settings, user, family=None)


# Phone verification


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

    if sent_since(now - RESEND_COOLDOWN, PhoneVerification.user_id == user.id):
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


def one_at_a_time(session: Session, user_id: int) -> None:
    """Lock the account's row until the transaction ends: what it does in parallel queues
    here (PostgreSQL; SQLite takes one write at a time), so a limit counted after this
    sees every earlier attempt."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


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


# Changing the address or the number, and the person's own data


def _require_password(user: User, password: str, field: str | None = None) -> None:
    """InvalidCredentials unless `password` is the account's (said under `field`, if named)."""
    if not verify_password(user.password_hash, password):
        wrong = gettext("The password is wrong.")
        raise InvalidCredentials(wrong, errors={field: [wrong]} if field else None)


def change_email(
    session: Session, settings: Settings, user: User, new_email: str, password: str
) -> None:
    """Send a confirmation link to the new address; the old one counts until it is used.

    An address that belongs to another account gets nothing, and the answer is the same.
    """
    _require_password(user, password)
    if new_email == user.email or active_user_by_email(session, new_email) is not None:
        return
    user.pending_email = new_email
    user.link_nonce += 1  # links sent earlier stop working
    enqueue_email(
        session,
        to=new_email,
        template="confirm_email",
        locale=user.locale,
        context={"link": confirmation_link(settings, user, new_email)},
        user_id=user.id,
    )
    session.commit()


def change_phone(session: Session, user: User, new_phone: str, password: str) -> None:
    """Set a number to verify; the verified one stays until the new one is verified."""
    _require_password(user, password)
    if new_phone == user.phone and user.phone_verified_at is not None:
        return
    if user.phone_verified_at is None:
        user.phone, user.pending_phone = new_phone, None
    else:
        user.pending_phone = new_phone
    session.commit()


def export_data(session: Session, user: User) -> dict:
    """Everything auth holds about this person, as they may take it away."""
    sessions = session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)).all()
    codes = session.scalars(
        select(PhoneVerification).where(PhoneVerification.user_id == user.id)
    ).all()
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.user_id == user.id).order_by(OutboxMessage.id)
    ).all()
    return {
        "account": {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "email_verified_at": user.email_verified_at,
            "phone": user.phone,
            "phone_verified_at": user.phone_verified_at,
            "pending_email": user.pending_email,
            "pending_phone": user.pending_phone,
            "locale": user.locale,
            "created_at": user.created_at,
        },
        "sessions": [
            {
                "started_at": t.created_at,
                "used_at": t.used_at,
                "revoked_at": t.revoked_at,
                "expires_at": t.expires_at,
            }
            for t in sessions
        ],
        "phone_verifications": [
            {"phone": v.phone, "sent_at": v.created_at, "verified_at": v.used_at} for v in codes
        ],
        "messages": [
            {
                "channel": m.channel,
                "to": m.recipient,
                "subject": m.subject,
                "template": m.template,
                "created_at": m.created_at,
                "status": m.status,
            }
            for m in messages
        ],
    }


def delete_account(session: Session, user: User, password: str) -> None:
    """Erase the person; keep only the keyed hashes that stop a second vote or signature."""
    _require_password(user, password)
    revoke_all_sessions(session, user.id)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.user_id == user.id)
        .values(
            recipient="[erased]", subject=None, text_body="[erased]", html_body=None, redacted=True
        )
    )
    session.query(PhoneVerification).filter(PhoneVerification.user_id == user.id).delete()
    user.erased_phone_hash = user.phone_hash
    user.name = user.email = user.phone = user.password_hash = None
    user.pending_email = user.pending_phone = user.phone_hash = None
    user.deleted_at = utcnow()
    user.link_nonce += 1
    session.commit()
