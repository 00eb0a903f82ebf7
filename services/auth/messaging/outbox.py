"""Writing messages to the outbox, and delivering them from it.

`enqueue_email` and `enqueue_sms` render the message now, in the recipient's language,
and insert the row in the caller's transaction without committing: the message exists exactly
when the change that caused it does. `deliver_due` hands due messages to the providers,
each in its own transaction, with retries and backoff; `sweep` returns messages whose
worker died mid-delivery.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from jinja2 import TemplateNotFound
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from services.common.timeutil import utcnow

from .models import DeliveryAttempt, OutboxMessage
from .providers import (
    PermanentDeliveryError,
    RetryableDeliveryError,
    email_provider,
    sms_provider,
)

log = logging.getLogger("viche.messages")

TEMPLATES = "messages"
BACKOFF_BASE = timedelta(seconds=10)
BACKOFF_MAX = timedelta(hours=1)
STUCK_AFTER = timedelta(minutes=5)
SMS_RETENTION = timedelta(hours=1)
REDACTED = "[redacted after delivery]"


def _render(name: str, locale: str, context: dict) -> str:
    with force_locale(locale):
        return render_template(f"{TEMPLATES}/{name}", locale=locale, **context).strip()


def _render_optional(name: str, locale: str, context: dict) -> str | None:
    try:
        return _render(name, locale, context)
    except TemplateNotFound:
        return None


# One INSERT through the session's transaction: no ORM object to build and flush.
INSERT_MESSAGE = insert(OutboxMessage.__table__)


def _queue(session: Session, **row) -> int:
    now = utcnow()
    unset = {"subject": None, "html_body": None, "user_id": None}
    fresh = {"status": "created", "attempts": 0, "redacted": False}
    values = {**unset, **fresh, "next_attempt_at": now, "created_at": now, **row}
    return session.execute(INSERT_MESSAGE, values).inserted_primary_key[0]


def enqueue_email(
    session: Session,
    *,
    to: str,
    template: str,
    locale: str,
    context: dict,
    user_id: int | None = None,
) -> int:
    """Queue an email from templates/messages/<template>.{subject.txt,txt,html}; its id."""
    return _queue(
        session,
        channel="email",
        recipient=to,
        template=template,
        locale=locale,
        subject=_render(f"{template}.subject.txt", locale, context),
        text_body=_render(f"{template}.txt", locale, context),
        html_body=_render_optional(f"{template}.html", locale, context),
        user_id=user_id,
    )


def enqueue_sms(
    session: Session,
    *,
    to: str,
    template: str,
    locale: str,
    context: dict,
    user_id: int | None = None,
) -> int:
    """Queue an SMS from templates/messages/<template>.sms.txt; its id."""
    return _queue(
        session,
        channel="sms",
        recipient=to,
        template=template,
        locale=locale,
        text_body=_render(f"{template}.sms.txt", locale, context),
        user_id=user_id,
    )


def claim_due(session: Session, limit: int = 50) -> list[int]:
    """Mark up to `limit` due messages as sending and return their ids.

    The conditional UPDATE is what makes a claim exclusive, on every database; on
    PostgreSQL, SKIP LOCKED also keeps concurrent workers from queueing behind each other.
    """
    now = utcnow()
    candidates = session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "created", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    won = set()
    if candidates:  # one statement for the whole batch
        won = set(
            session.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(candidates), OutboxMessage.status == "created")
                .values(status="sending", claimed_at=now)
                .returning(OutboxMessage.id)
            )
        )
    session.commit()
    return [message_id for message_id in candidates if message_id in won]  # oldest first


def backoff(attempts: int) -> timedelta:
    """Exponential, capped, with jitter so that retries of one outage do not arrive together."""
    delay = min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)
    return delay * random.uniform(0.5, 1.5)


# What a provider reads of a message, and the record of each try: Core statements, as
# the worker runs them for every message.
MESSAGE_TO_SEND = select(
    OutboxMessage.channel,
    OutboxMessage.recipient,
    OutboxMessage.subject,
    OutboxMessage.text_body,
    OutboxMessage.html_body,
    OutboxMessage.attempts,
).where(OutboxMessage.id == bindparam("message_id"))
RECORD_ATTEMPT = insert(DeliveryAttempt.__table__)


def deliver(session: Session, message_id: int, config, providers: dict | None = None) -> str:
    """Hand one claimed message to its provider; record the attempt; return the outcome.

    `providers` (channel -> provider) lets a pass reuse one SMTP connection."""
    message = session.execute(MESSAGE_TO_SEND, {"message_id": message_id}).one()
    if providers is None:
        providers = {"email": email_provider(config), "sms": sms_provider(config)}
    provider = providers[message.channel]
    attempts = message.attempts + 1
    error = None
    try:
        provider.send(message)
    except PermanentDeliveryError as exc:
        outcome, error = "failed", str(exc)
    except RetryableDeliveryError as exc:
        outcome, error = "retry", str(exc)
    except Exception as exc:  # a bug or an unforeseen provider error: retry, and say so
        log.exception("unexpected delivery error for message %s", message_id)
        outcome, error = "retry", f"{type(exc).__name__}: {exc}"
    else:
        outcome = "sent"
    if outcome == "retry" and attempts >= config["DELIVERY_MAX_ATTEMPTS"]:
        outcome = "failed"
    now = utcnow()
    error = error and error[:500]
    if outcome == "sent":
        changes = {"status": "sent", "sent_at": now, "last_error": None}
    elif outcome == "failed":
        changes = {"status": "failed", "last_error": error or ""}
        log.warning("message %s failed for good: %s", message_id, error)
    else:
        changes = {
            "status": "created",
            "last_error": error or "",
            "next_attempt_at": now + backoff(attempts),
        }
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=attempts, **changes)
    )
    session.execute(
        RECORD_ATTEMPT,
        {"message_id": message_id, "at": now, "outcome": outcome, "error": error or None},
    )
    session.commit()
    return outcome


def deliver_due(session: Session, config, limit: int = 50) -> dict[str, int]:
    """Claim and deliver what is due now; counts per outcome."""
    outcomes = {"sent": 0, "retry": 0, "failed": 0}
    claimed = claim_due(session, limit)
    if not claimed:
        return outcomes
    providers = {"email": email_provider(config), "sms": sms_provider(config)}
    try:
        for message_id in claimed:
            outcomes[deliver(session, message_id, config, providers)] += 1
    finally:
        for provider in providers.values():
            provider.close()
    return outcomes


def sweep(session: Session, config) -> int:
    """Return stuck `sending` rows to the queue; redact delivered SMS bodies (they hold codes).

    In development the dev outbox needs the codes readable, so nothing is redacted there.
    """
    now = utcnow()
    returned = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - STUCK_AFTER)
        .values(status="created", next_attempt_at=now)
    ).rowcount
    if not dev_outbox_enabled(config):
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.channel == "sms",
                OutboxMessage.status == "sent",
                OutboxMessage.redacted.is_(False),
                OutboxMessage.sent_at < now - SMS_RETENTION,
            )
            .values(text_body=REDACTED, redacted=True)
        )
    session.commit()
    return returned


def dev_outbox_enabled(config=None) -> bool:
    config = config or current_app.config
    return config["VICHE_ENV"] != "production" and config["DEV_OUTBOX"]
