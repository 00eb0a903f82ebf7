"""Verifying an address for another service, without the address leaving auth.

The flow for an email-confirmed poll vote:
1. polls calls POST /internal/email-verifications with the address, a purpose
   ("poll-vote:7"), its own subject (the pending vote's id) and a return URL on our site;
2. auth emails a link; its GET shows what is being confirmed and a Confirm button;
3. the button POSTs to the return URL a short-lived proof the page carries: a JWT
   signed by auth, audience the calling service, naming the purpose, the subject and a
   keyed hash of the address — never the address. A mail scanner that fetches the link
   confirms nothing: it presses no button;
4. the caller verifies the proof with auth's JWKS (services.common.tokens.
   verify_service_token) and acts on it, once: the proof's subject is its own pending
   request, which it settles. One vote per address rests on the hash;
5. the caller tells auth, a batch at a time, which verifications it acted on
   (`settled_by_caller`): their links' pages then say they were used.

Without a return URL, the button POSTs the link's token to auth, which confirms once
and says so (`confirm`). A page opened before pages carried the proof POSTs there too:
for a caller that takes the proof, auth confirms nothing and shows the link's page
again, with the proof. No proof ever travels in a URL (nor so into access logs).

The address itself is only in the email's outbox row: the verification keeps its hash.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.db import HotStatement, engine_of, in_steps
from services.common.errors import N_, NotFound, Problem
from services.common.hashing import mailbox_hash
from services.common.timeutil import utcnow

from ..accounts.errors import InvalidLink
from ..accounts.links import link_serializer, load_link
from ..accounts.models import User
from ..accounts.settings import Settings
from ..keys import current_signer, signed_token
from ..messaging import enqueue_email
from ..messaging.models import OutboxMessage
from ..messaging.outbox import INSERT_MESSAGE, MESSAGE_COLUMNS, email_row
from .models import EmailVerification, NotificationBatch

VERIFICATION_TTL = timedelta(days=1)
PROOF_TTL = timedelta(minutes=10)
PER_ADDRESS_PER_HOUR = 5
# Templates other services may have auth send to their users.
NOTIFICATION_TEMPLATES = frozenset(
    f"petition_{kind}"
    for kind in (
        "response",
        "answered",
        "approved",
        "rejected",
        "successful",
        "closed",
        "forwarded",
    )
)
# Its links' salt is viche.auth.verify-for-service, as ever: links mailed already work.
PURPOSE = "verify-for-service"


class TooManyRequests(Problem):
    slug, status = "rate-limited", 429


class InvalidRequest(Problem):
    slug, status, title = "invalid-request", 422, N_("The request is not valid")


# Built once, of the table's columns, and run on the session's connection: a
# verification is asked for with every email vote, and the ORM's part of a statement
# costs more than the statement.
_verification = EmailVerification.__table__.c
REQUESTS_SINCE = select(func.count()).where(
    _verification.email_hash == bindparam("email_hash"),
    _verification.created_at > bindparam("since"),
)
INSERT_VERIFICATION = insert(EmailVerification.__table__)
_VERIFICATION_COLUMNS = (
    "id",
    "caller",
    "purpose",
    "subject",
    "email_hash",
    "locale",
    "return_url",
    "context",
    "status",
    "created_at",
    "expires_at",
)


def _request_and_queue():
    """On PostgreSQL a request is one statement (data-modifying CTEs): the address's
    requests in the last hour counted, the verification written if they are few enough,
    and its email queued with it, or nothing at all. A row back: written. The message's
    values are bound as message_<column>."""
    verifications, messages = EmailVerification.__table__, OutboxMessage.__table__
    written = (
        insert(verifications)
        .from_select(
            _VERIFICATION_COLUMNS,
            select(
                *(
                    bindparam(name, type_=verifications.c[name].type)
                    for name in _VERIFICATION_COLUMNS
                )
            ).where(REQUESTS_SINCE.scalar_subquery() < PER_ADDRESS_PER_HOUR),
        )
        .returning(verifications.c.id)
        .cte("written")
    )
    queued = (
        insert(messages)
        .from_select(
            MESSAGE_COLUMNS,
            select(
                *(
                    bindparam(f"message_{name}", type_=messages.c[name].type)
                    for name in MESSAGE_COLUMNS
                )
            ).select_from(written),
        )
        .returning(messages.c.id)
        .cte("queued")
    )
    return HotStatement(select(queued.c.id))


REQUEST_AND_QUEUE = _request_and_queue()


@dataclass(frozen=True)
class QueuedVerification:
    """What the caller learns of a queued verification (known before the commit, so
    that answering costs no second read)."""

    id: str
    expires_at: datetime


def request_verification(
    session: Session,
    settings: Settings,
    *,
    caller: str,
    email: str,
    purpose: str,
    subject: str,
    locale: str,
    return_url: str | None,
    context: dict,
) -> QueuedVerification:
    """Queue the email with the link; at most a few per address an hour. A refusal is
    said in the email's language (`locale`)."""
    if return_url and not return_url.startswith(settings.public_url + "/"):
        with force_locale(locale):
            raise InvalidRequest(
                gettext("The return address must be on this site."),
                errors={"return_url": [gettext("Not on this site.")]},
            )
    email_hash = mailbox_hash(settings.hash_key, email)
    now = utcnow()
    queued = QueuedVerification(secrets.token_hex(16), now + VERIFICATION_TTL)
    verification = {
        "id": queued.id,
        "caller": caller,
        "purpose": purpose,
        "subject": subject,
        "email_hash": email_hash,
        "locale": locale,
        "return_url": return_url,
        "context": context,
        "status": "pending",
        "created_at": now,
        "expires_at": queued.expires_at,
    }
    token = link_serializer(settings, PURPOSE).dumps({"v": queued.id})
    message = email_row(
        to=email,
        template="confirm_for_service",
        locale=locale,
        context={
            **context,
            "purpose": purpose,
            "link": f"{settings.public_url}/api/auth/verify?token={token}",
        },
    )
    since = {"since": now - timedelta(hours=1)}
    engine = engine_of(session)
    if engine.dialect.name == "postgresql":
        bound = {f"message_{name}": value for name, value in message.items()}
        if REQUEST_AND_QUEUE.first(engine, {**verification, **since, **bound}) is None:
            raise _too_many_requests(locale)
        return queued
    connection = session.connection()  # elsewhere step by step, in one transaction
    if (
        connection.scalar(REQUESTS_SINCE, {"email_hash": email_hash, **since})
        >= PER_ADDRESS_PER_HOUR
    ):
        raise _too_many_requests(locale)
    connection.execute(INSERT_VERIFICATION, verification)
    connection.execute(INSERT_MESSAGE, message)
    session.commit()
    return queued


# A caller hands over the requests of its voters who asked at the same moment together.
VERIFICATIONS_AT_ONCE = 64


def request_verifications(
    session: Session, settings: Settings, *, caller: str, requests: list[dict]
) -> list[QueuedVerification | Problem]:
    """Each request answered on its own, in order, as `request_verification` answers
    it: queued, or the problem that refused it, said in the request's language."""
    outcomes: list[QueuedVerification | Problem] = []
    for asked in requests:
        try:
            outcomes.append(request_verification(session, settings, caller=caller, **asked))
        except Problem as refused:
            session.rollback()
            outcomes.append(refused)
    return outcomes


def _too_many_requests(locale: str) -> TooManyRequests:
    with force_locale(locale):
        return TooManyRequests(
            gettext("Too many confirmations were sent to this address. Try again later."),
            headers={"Retry-After": "3600"},
        )


def _verification_id(settings: Settings, token: str) -> str:
    """The verification a link's token names, once its signature and age check out."""
    verification_id = load_link(settings, PURPOSE, token, VERIFICATION_TTL).get("v")
    if not isinstance(verification_id, str):
        raise _used_or_gone()
    return verification_id


def _used_or_gone() -> InvalidLink:
    return InvalidLink(gettext("This link has been used already or is no longer valid."))


class SpentLink(InvalidLink):
    """The link of a verification that can be confirmed no more, used or expired: its
    page still speaks the email's language and leads back to where the email came from
    (the caller's `page` in the context), never a dead end."""

    def __init__(self, detail, *, locale: str, back: str | None) -> None:
        super().__init__(detail)
        self.locale, self.back = locale, back


def _spent(locale: str, context: dict | None, status: str) -> SpentLink:
    # Said in the language of the page that shows it (the email's, or one chosen there).
    if status == "pending":  # and past its time
        detail = _l("This link has expired.")
    elif status == "confirmed":
        detail = _l("This link has been used already.")
    else:  # cancelled
        detail = _l("This link has been used already or is no longer valid.")
    return SpentLink(detail, locale=locale, back=(context or {}).get("page"))


@dataclass(frozen=True)
class PendingVerification:
    """What the link's page shows: the language of the email, what is confirmed, and
    where its button sends the proof (None: to auth, with the link's token)."""

    locale: str
    context: dict
    return_path: str | None = None  # the return URL on this site, as a path
    proof: str | None = None


# The link's page reads one row, outside any transaction: every voter opens it once.
PENDING_TO_SHOW = HotStatement(
    select(
        _verification.locale,
        _verification.context,
        _verification.status,
        _verification.expires_at,
        _verification.caller,
        _verification.subject,
        _verification.purpose,
        _verification.email_hash,
        _verification.return_url,
    ).where(_verification.id == bindparam("verification_id"))
)


def _still_pending(session: Session, verification_id: str) -> tuple:
    """The verification's PENDING_TO_SHOW row (a plain tuple), while it can still be
    confirmed."""
    found = PENDING_TO_SHOW.first(engine_of(session), {"verification_id": verification_id})
    if found is None:
        raise _used_or_gone()
    locale, context, status, expires_at = found[:4]
    if status != "pending" or expires_at < utcnow():
        raise _spent(locale, context, status)
    return tuple(found)


def pending_verification(session: Session, settings: Settings, token: str) -> PendingVerification:
    """The verification a link names, while it can still be confirmed; with a return
    URL, the proof its button takes there (made for a GET, it acts only when POSTed)."""
    found = _still_pending(session, _verification_id(settings, token))
    locale, context, _, _, caller, subject, purpose, email_hash, return_url = found
    if not return_url:
        return PendingVerification(locale, context or {})
    # As a path, the form posts to whichever address of the site the page came from.
    path = return_url.removeprefix(settings.public_url)
    proof = _proof(session, settings, caller, subject, purpose, email_hash)
    return PendingVerification(locale, context or {}, path, proof)


def _proof(
    session: Session, settings: Settings, caller: str, subject: str, purpose: str, email_hash: str
) -> str:
    """The caller's proof that the address was confirmed for `purpose`."""
    return signed_token(
        current_signer(session, settings.secret_key),
        issuer=settings.issuer,
        audience=caller,
        subject=subject,
        claims={"typ": "email-proof", "purpose": purpose, "email_hash": email_hash},
        ttl=PROOF_TTL,
    )


# Confirming is one statement: the status moves only from "pending", so of two clicks
# at once, one confirms. Only a caller that takes no proof is confirmed here: the
# others act on the proof, and tell auth (`settled_by_caller`).
CONFIRM_PENDING = HotStatement(
    update(EmailVerification.__table__)
    .where(
        _verification.id == bindparam("verification_id"),
        _verification.status == "pending",
        _verification.expires_at >= bindparam("now"),
        _verification.return_url.is_(None),
    )
    .values(status="confirmed", settled_at=bindparam("now"))
    .returning(_verification.id)
)


def confirm(session: Session, settings: Settings, token: str) -> bool:
    """Confirm once a verification whose caller takes no proof: True. False when its
    caller does (a page opened before pages carried the proof): the link's page, which
    carries it, is to be shown again; nothing is confirmed."""
    verification_id = _verification_id(settings, token)
    params = {"verification_id": verification_id, "now": utcnow()}
    if CONFIRM_PENDING.first(engine_of(session), params) is not None:
        return True
    *_, return_url = _still_pending(session, verification_id)
    if not return_url:
        raise _used_or_gone()  # not reached: confirmed above; never a redirect loop
    return False


FORGET_AT_ONCE = 1000
FORGET_STEPS = 10


def forget_expired(session: Session) -> int:
    """Delete the requests whose link can no longer be used, whatever became of them:
    none may keep the hash of an address beside what it confirmed (a vote's question
    and choice) once neither is of use (the rate limit counts the last hour; a day-old
    token is refused by its age before any row is read). A thousand at a time, ten
    thousand a run at the most (the outbox worker's sweep runs it); how many."""
    now = utcnow()

    def step() -> int:
        dead = (
            select(EmailVerification.id)
            .where(EmailVerification.expires_at < now)
            .limit(FORGET_AT_ONCE)
        )
        forgotten = session.execute(
            delete(EmailVerification)
            .where(EmailVerification.id.in_(dead.scalar_subquery()))
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        return forgotten

    return in_steps(step, FORGET_AT_ONCE, FORGET_STEPS)


# A caller retries a batch within minutes (petitions gives up after 20 attempts); the
# keys are kept far longer than that, then let go, so the table stays small.
BATCH_KEYS_KEPT = timedelta(days=30)


def forget_old_batches(session: Session) -> int:
    """Let go of the keys of notification batches handed over long ago; how many."""
    forgotten = session.execute(
        delete(NotificationBatch).where(NotificationBatch.created_at < utcnow() - BATCH_KEYS_KEPT)
    ).rowcount
    session.commit()
    return forgotten


# A caller says which of its verifications it acted on, a batch at a time.
SETTLED_AT_ONCE = 500


def settled_by_caller(session: Session, *, caller: str, subjects=(), verification_ids=()) -> int:
    """The caller acted on the proofs of the verifications it names by these subjects
    (or, as callers of the release before do, by their ids): a vote counted, or refused
    as a second one. Their links are used, and their pages say so. Only the caller's
    own, only while pending; told twice, nothing changes. How many were settled."""
    named = (
        _verification.subject.in_(subjects) if subjects else _verification.id.in_(verification_ids)
    )
    settled = session.execute(
        update(EmailVerification.__table__)  # table columns: no ORM bookkeeping
        .where(_verification.caller == caller, named, _verification.status == "pending")
        .values(status="confirmed", settled_at=utcnow())
    ).rowcount
    session.commit()
    return settled


def cancel(session: Session, *, caller: str, subject: str) -> None:
    """The caller withdraws its request (the voter pressed Cancel)."""
    cancelled = session.execute(
        update(EmailVerification)
        .where(
            EmailVerification.caller == caller,
            EmailVerification.subject == subject,
            EmailVerification.status == "pending",
        )
        .values(status="cancelled", settled_at=utcnow())
    ).rowcount
    if not cancelled:
        raise NotFound(gettext("There is no pending verification with this subject."))
    session.commit()


def notify(
    session: Session,
    settings: Settings,
    *,
    caller: str,
    user_ids: list[int],
    template: str,
    context: dict,
    key: str | None = None,
) -> int:
    """Email each user who still has a confirmed address, in their language; how many.

    A batch the caller names with a `key` is sent once: handed over again under that
    key (the caller retrying because it never learnt that the first time worked), it
    is answered as before and nobody gets a second email."""
    if template not in NOTIFICATION_TEMPLATES:
        raise InvalidRequest(
            gettext("There is no such message."),
            errors={"template": [gettext("Unknown template.")]},
        )
    if key is not None:
        earlier = session.get(NotificationBatch, (caller, key))
        if earlier is not None:
            return earlier.queued
    users = session.scalars(
        select(User).where(
            User.id.in_(user_ids), User.deleted_at.is_(None), User.email_verified_at.is_not(None)
        )
    ).all()
    for user in users:
        enqueue_email(
            session,
            to=user.email,
            template=template,
            locale=user.locale,
            context={**context, "name": user.name},
            user_id=user.id,
        )
    if key is not None:  # with the emails: both or neither
        session.add(NotificationBatch(caller=caller, key=key, queued=len(users)))
    try:
        session.commit()
    except IntegrityError:  # the same batch, handed over twice at once: the other sent it
        session.rollback()
        if key is None:
            raise
        return session.get(NotificationBatch, (caller, key)).queued
    return len(users)
