"""Writing messages to the outbox, and delivering them from it.

`enqueue_email` and `enqueue_sms` render the message now, in the recipient's language,
and insert the row in the caller's transaction without committing: the message exists exactly
when the change that caused it does. `deliver_due` hands due messages to the providers,
each in its own transaction, with retries and backoff; `sweep` returns messages whose
worker died mid-delivery, and forgets the addresses and texts of settled ones once they
are old enough (SMS_RETENTION, EMAIL_RETENTION_DAYS): the outbox is not an archive of links,
codes and the addresses of people who voted by email.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from jinja2 import TemplateNotFound
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from services.common.db import in_steps
from services.common.marks import mark, put_in
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
SMS_RETENTION = timedelta(hours=1)  # codes; emails: EMAIL_RETENTION_DAYS in the config
REDACT_AT_ONCE = 1000  # rows per statement: a backlog is worked off in short steps,
REDACT_STEPS_PER_SWEEP = 10  # and over several sweeps, delivery going on between them
REDACTED = "[redacted after delivery]"


def _render(name: str, locale: str, context: dict) -> str:
    with force_locale(locale):
        return render_template(f"{TEMPLATES}/{name}", locale=locale, **context).strip()


@functools.cache
def _has_template(name: str) -> bool:
    """Whether the message template exists: Jinja remembers the templates it found,
    not the ones it looked for in vain, and an HTML part is looked for in every email."""
    try:
        current_app.jinja_env.get_template(f"{TEMPLATES}/{name}")
    except TemplateNotFound:
        return False
    return True


def _render_optional(name: str, locale: str, context: dict) -> str | None:
    return _render(name, locale, context) if _has_template(name) else None


# One INSERT on the session's connection, in its transaction: no ORM object to build
# and flush, nor the ORM's part of executing a statement.
INSERT_MESSAGE = insert(OutboxMessage.__table__)
# The columns a new message's row gives values for (`message_row`).
MESSAGE_COLUMNS = (
    "channel",
    "recipient",
    "template",
    "locale",
    "subject",
    "text_body",
    "html_body",
    "user_id",
    "status",
    "attempts",
    "redacted",
    "next_attempt_at",
    "created_at",
)


def message_row(**given) -> dict:
    """A new message's row, due now: `given` and the defaults for the rest."""
    now = utcnow()
    unset = {"subject": None, "html_body": None, "user_id": None}
    fresh = {"status": "created", "attempts": 0, "redacted": False}
    return {**unset, **fresh, "next_attempt_at": now, "created_at": now, **given}


def _queue(session: Session, row: dict) -> int:
    return session.connection().execute(INSERT_MESSAGE, row).inserted_primary_key[0]


def email_row(
    *, to: str, template: str, locale: str, context: dict, user_id: int | None = None
) -> dict:
    """The row of an email from templates/messages/<template>.{subject.txt,txt,html},
    rendered now: for `enqueue_email`, or for a statement that writes it with other rows."""
    if template in SAME_BUT_THE_LINK and all(isinstance(v, str) for v in context.values()):
        subject, text, html = _parts_around_link(template, locale, context)
    else:
        subject, text, html = _parts(template, locale, context)
    return message_row(
        channel="email",
        recipient=to,
        template=template,
        locale=locale,
        subject=subject,
        text_body=text,
        html_body=html,
        user_id=user_id,
    )


def _parts(template: str, locale: str, context: dict) -> tuple[str, str, str | None]:
    """An email's subject, text and HTML (if it has one)."""
    return (
        _render(f"{template}.subject.txt", locale, context),
        _render(f"{template}.txt", locale, context),
        _render_optional(f"{template}.html", locale, context),
    )


# Emails alike for everyone asking with the same context but for their link (a vote's
# confirmation: one poll, one answer, one language) are rendered once, around a mark
# where the link goes (services.common.marks).
SAME_BUT_THE_LINK = frozenset({"confirm_for_service"})


def _parts_around_link(template: str, locale: str, context: dict) -> tuple[str, str, str | None]:
    link = {"link": context.get("link", "")}
    rest = tuple(sorted((key, value) for key, value in context.items() if key != "link"))
    subject, text, html = _rendered_around_mark(template, locale, rest)
    return (
        put_in(subject, link, html=False),
        put_in(text, link, html=False),
        html and put_in(html, link, html=True),
    )


@functools.lru_cache(maxsize=1024)
def _rendered_around_mark(template: str, locale: str, rest: tuple) -> tuple[str, str, str | None]:
    return _parts(template, locale, {**dict(rest), "link": mark("link")})


def enqueue_email(
    session: Session,
    *,
    to: str,
    template: str,
    locale: str,
    context: dict,
    user_id: int | None = None,
) -> int:
    """Queue an email (`email_row`); its id."""
    return _queue(
        session,
        email_row(to=to, template=template, locale=locale, context=context, user_id=user_id),
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
        message_row(
            channel="sms",
            recipient=to,
            template=template,
            locale=locale,
            text_body=_render(f"{template}.sms.txt", locale, context),
            user_id=user_id,
        ),
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


# What a provider reads of the messages a pass claimed, and the record of each try:
# Core statements, run once a pass with every message's values (executemany).
_message = OutboxMessage.__table__.c
MESSAGES_TO_SEND = select(
    _message.id,
    _message.channel,
    _message.recipient,
    _message.subject,
    _message.text_body,
    _message.html_body,
    _message.attempts,
).where(_message.id.in_(bindparam("message_ids", expanding=True)))
RECORD_OUTCOME = (
    update(OutboxMessage.__table__)
    .where(_message.id == bindparam("message_id"))
    .values(
        attempts=bindparam("attempts"),
        status=bindparam("status"),
        last_error=bindparam("last_error"),
        # A retry moves the next attempt on; a sent or failed message keeps its times.
        next_attempt_at=func.coalesce(
            bindparam("retry_at", type_=_message.next_attempt_at.type), _message.next_attempt_at
        ),
        sent_at=func.coalesce(bindparam("sent_at", type_=_message.sent_at.type), _message.sent_at),
    )
)
# RETURNING makes SQLAlchemy send a pass's attempts as one multi-row INSERT
# ("insertmanyvalues") instead of one statement per message.
RECORD_ATTEMPT = insert(DeliveryAttempt.__table__).returning(DeliveryAttempt.__table__.c.id)


def _attempt(message, provider, config, now) -> dict:
    """Hand one message to its provider: the attempt to record, and under "changes"
    what it changes of the message."""
    attempts = message.attempts + 1
    error = None
    try:
        provider.send(message)
    except PermanentDeliveryError as exc:
        outcome, error = "failed", str(exc)
    except RetryableDeliveryError as exc:
        outcome, error = "retry", str(exc)
    except Exception as exc:  # a bug or an unforeseen provider error: retry, and say so
        log.exception("unexpected delivery error for message %s", message.id)
        outcome, error = "retry", f"{type(exc).__name__}: {exc}"
    else:
        outcome = "sent"
    if outcome == "retry" and attempts >= config["DELIVERY_MAX_ATTEMPTS"]:
        outcome = "failed"
    error = error and error[:500]
    if outcome == "failed":
        log.warning("message %s failed for good: %s", message.id, error)
    return {
        "message_id": message.id,
        "outcome": outcome,
        "error": error,
        "at": now,
        "changes": {
            "message_id": message.id,
            "attempts": attempts,
            "status": "created" if outcome == "retry" else outcome,
            "last_error": None if outcome == "sent" else error or "",
            "retry_at": now + backoff(attempts) if outcome == "retry" else None,
            "sent_at": now if outcome == "sent" else None,
        },
    }


class DeliveryLanes:
    """The connections messages leave over: up to DELIVERY_CONNECTIONS per channel at
    once, each with a thread of its own, kept open from one pass to the next. A relay's
    connection costs a handshake (often TLS) and a login: opened afresh for every pass,
    a busy outbox paid them for every few messages. Closed when unused for
    `idle_seconds` (a relay drops idle clients after some minutes anyway; a kept
    connection it dropped is opened again) and by `close`. One pass at a time."""

    def __init__(self, config, idle_seconds: float = 30.0) -> None:
        self.config = config
        self.idle_seconds = idle_seconds
        self._providers: list[dict] = []  # per lane, a provider per channel
        self._threads: ThreadPoolExecutor | None = None
        self._used_at = 0.0

    def send(self, messages: list) -> list[dict]:
        """Each message's attempt. A relay across a network answers each command a round
        trip later: one connection at a time would send a few messages a second. Lane n
        takes messages n, n + lanes, …, so every connection sends the oldest first."""
        lanes = max(1, min(self.config["DELIVERY_CONNECTIONS"], len(messages)))
        while len(self._providers) < lanes:
            self._providers.append(
                {"email": email_provider(self.config), "sms": sms_provider(self.config)}
            )
        if self._threads is None:
            self._threads = ThreadPoolExecutor(
                self.config["DELIVERY_CONNECTIONS"], thread_name_prefix="delivery"
            )
        sent = self._threads.map(
            lambda n: _deliver_lane(messages[n::lanes], self._providers[n], self.config),
            range(lanes),
        )
        records = [record for lane in sent for record in lane]
        self._used_at = time.monotonic()
        return records

    def close_if_idle(self) -> None:
        if self._providers and time.monotonic() - self._used_at >= self.idle_seconds:
            self.close()

    def close(self) -> None:
        providers, self._providers = self._providers, []
        for lane in providers:
            for provider in lane.values():
                provider.close()
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown()


def deliver(
    session: Session, message_ids: list[int], config, lanes: DeliveryLanes | None = None
) -> dict[str, int]:
    """Hand claimed messages to their providers, oldest first, over `lanes` (without,
    lanes opened for these messages alone); record every attempt in one transaction;
    counts per outcome.

    Should the worker die between sending and recording, the messages stay `sending`
    and the sweep queues them again: a message may arrive twice, never not at all."""
    outcomes = {"sent": 0, "retry": 0, "failed": 0}
    if not message_ids:
        return outcomes
    messages = session.execute(MESSAGES_TO_SEND, {"message_ids": message_ids}).all()
    session.commit()  # no transaction stays open while the providers talk
    oldest_first = {message_id: n for n, message_id in enumerate(message_ids)}
    messages.sort(key=lambda message: oldest_first[message.id])
    own_lanes = lanes is None
    if own_lanes:
        lanes = DeliveryLanes(config)
    try:
        records = lanes.send(messages)
    finally:
        if own_lanes:
            lanes.close()
    session.execute(RECORD_OUTCOME, [record.pop("changes") for record in records])
    session.execute(RECORD_ATTEMPT, records)
    session.commit()
    for record in records:
        outcomes[record["outcome"]] += 1
    return outcomes


def _deliver_lane(messages: list, providers: dict, config) -> list[dict]:
    """Send `messages` in turn, each over its channel's provider; their attempts."""
    return [_attempt(message, providers[message.channel], config, utcnow()) for message in messages]


def deliver_due(
    session: Session, config, limit: int = 50, lanes: DeliveryLanes | None = None
) -> dict[str, int]:
    """Claim and deliver what is due now (over `lanes`, see `deliver`); counts per
    outcome."""
    return deliver(session, claim_due(session, limit), config, lanes)


def sweep(session: Session, config) -> int:
    """Return stuck `sending` rows to the queue (how many); forget settled messages once
    they are old enough (not in development, where the dev outbox shows them)."""
    now = utcnow()
    returned = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - STUCK_AFTER)
        .values(status="created", next_attempt_at=now)
    ).rowcount
    session.commit()
    if not dev_outbox_enabled(config):
        email_retention = timedelta(days=config["EMAIL_RETENTION_DAYS"])
        for channel, retention in (("sms", SMS_RETENTION), ("email", email_retention)):
            step = functools.partial(redact_settled, session, channel, now - retention)
            in_steps(step, REDACT_AT_ONCE, REDACT_STEPS_PER_SWEEP)
    return returned


def redact_settled(session: Session, channel: str, made_before) -> int:
    """Forget the recipient and the text of up to REDACT_AT_ONCE sent or failed messages
    of `channel` made before `made_before`, and what their delivery attempts' errors
    said (a mail server's refusal often repeats the address); how many. Reads the index
    of the rows not forgotten yet, so the work follows the messages of the last days,
    not the table."""
    settled = (
        select(OutboxMessage.id)
        .where(
            ~OutboxMessage.redacted,
            OutboxMessage.created_at < made_before,
            OutboxMessage.channel == channel,
            OutboxMessage.status.in_(("sent", "failed")),
        )
        .limit(REDACT_AT_ONCE)
    )
    redacted = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(settled.scalar_subquery()))
        .values(recipient=REDACTED, subject=None, text_body=REDACTED, html_body=None, redacted=True)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    if redacted:
        session.execute(
            update(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_(redacted), DeliveryAttempt.error.is_not(None))
            .values(error=REDACTED)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return len(redacted)


def dev_outbox_enabled(config=None) -> bool:
    config = config or current_app.config
    return config["VICHE_ENV"] != "production" and config["DEV_OUTBOX"]
