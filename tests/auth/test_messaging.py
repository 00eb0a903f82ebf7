"""Auth's outbox: written with the change, delivered with retries, through real servers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.auth import create_app
from services.auth.messaging import enqueue_email, enqueue_sms, outbox
from services.auth.messaging.models import DeliveryAttempt, OutboxMessage
from services.auth.messaging.outbox import claim_due, deliver_due, sweep
from services.auth.messaging.worker import DeliveryWorker
from services.auth.models import db
from services.auth.settings import auth_settings
from services.common.config import ConfigError
from services.common.timeutil import utcnow
from tests.conftest import TEST_DB
from tests.support.smtp import SmtpServer, links_in, text_of
from tests.support.statements import statements_run

CONTEXT = {"name": "Олена", "link": "http://127.0.0.1:8000/confirm?t=abc"}


def queue_hello(auth_app, to="olena@example.org", locale="uk", channel="email"):
    with auth_app.test_request_context("/"):
        enqueue = enqueue_email if channel == "email" else enqueue_sms
        message_id = enqueue(db.session, to=to, template="hello", locale=locale, context=CONTEXT)
        db.session.commit()
        return message_id


def deliver(auth_app, **overrides):
    with auth_app.app_context():
        try:
            return deliver_due(db.session, {**auth_app.config, **overrides})
        finally:
            db.session.remove()


def message(auth_app, message_id) -> OutboxMessage:
    with auth_app.app_context():
        found = db.session.get(OutboxMessage, message_id)
        db.session.expunge(found)
        return found


def make_due(auth_app, message_id):
    with auth_app.app_context():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def test_a_rolled_back_change_leaves_no_message(auth_app):
    with auth_app.test_request_context("/"):
        enqueue_email(
            db.session, to="a@example.org", template="hello", locale="en", context=CONTEXT
        )
        db.session.rollback()
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_email_arrives_at_a_real_smtp_server(auth_app, smtp_server):
    message_id = queue_hello(auth_app)
    assert deliver(auth_app, **smtp_server.config) == {"sent": 1, "retry": 0, "failed": 0}
    received = smtp_server.inbox.wait_for("olena@example.org")
    assert received["Subject"] == "Вітання від Віче"
    assert received.get_content_type() == "multipart/alternative"
    assert "Вітаємо, Олена!" in text_of(received)
    assert links_in(received) == [CONTEXT["link"]]
    html = received.get_body(preferencelist=("html",)).get_content()
    assert f'href="{CONTEXT["link"]}"' in html
    assert received["Message-ID"] and received["Date"]
    sent = message(auth_app, message_id)
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at


def test_an_address_beyond_ascii_goes_out_in_utf8(auth_app, smtp_server):
    queue_hello(auth_app, to="олена@приклад.укр")
    queue_hello(auth_app, to="plain@example.org")
    assert deliver(auth_app, **smtp_server.config) == {"sent": 2, "retry": 0, "failed": 0}
    received = smtp_server.inbox.wait_for("олена@приклад.укр")
    assert received["Subject"] == "Вітання від Віче"
    assert "Вітаємо, Олена!" in text_of(received)
    assert smtp_server.inbox.wait_for("plain@example.org")["Subject"] == "Вітання від Віче"


def test_a_pass_sends_its_messages_over_one_connection(auth_app, smtp_server):
    for n in range(3):
        queue_hello(auth_app, to=f"reader{n}@example.org")
    assert deliver(auth_app, DELIVERY_CONNECTIONS=1, **smtp_server.config)["sent"] == 3
    assert [str(m["To"]) for m in smtp_server.inbox.messages] == [
        f"reader{n}@example.org" for n in range(3)
    ]  # oldest first
    assert smtp_server.inbox.sessions == 1


def test_a_slow_relay_gets_a_passs_messages_over_several_connections_at_once(auth_app, smtp_server):
    """A relay across a network answers a round trip later: the pass does not wait for
    one message's answer before it sends the next, up to DELIVERY_CONNECTIONS at once."""
    smtp_server.inbox.answer_after = 0.3
    for n in range(9):
        queue_hello(auth_app, to=f"reader{n}@example.org")
    outcomes = deliver(auth_app, DELIVERY_CONNECTIONS=3, **smtp_server.config)
    assert outcomes == {"sent": 9, "retry": 0, "failed": 0}
    inbox = smtp_server.inbox
    assert inbox.sessions == 3 and inbox.most_in_flight == 3
    assert sorted(str(m["To"]) for m in inbox.messages) == [
        f"reader{n}@example.org" for n in range(9)
    ]
    # The first three out are the three oldest, one on each connection.
    assert {str(m["To"]) for m in inbox.messages[:3]} == {
        f"reader{n}@example.org" for n in range(3)
    }
    with auth_app.app_context():
        assert db.session.scalar(select(func.count(DeliveryAttempt.id))) == 9
        statuses = db.session.scalars(select(OutboxMessage.status)).all()
    assert statuses == ["sent"] * 9


def test_an_email_rendered_once_around_its_link_is_the_email_rendered_whole(auth_app, monkeypatch):
    """A vote's confirmation is rendered once per poll, answer and language, the link
    put in after: the result is what rendering it whole gives, link escaped as Jinja
    escapes it in HTML."""
    monkeypatch.setattr(outbox, "SAME_BUT_THE_LINK", frozenset({"hello"}))  # it has HTML
    links = ["http://127.0.0.1:8000/confirm?t=abc&n=1", "http://127.0.0.1:8000/confirm?t=xyz"]
    with auth_app.test_request_context("/"):
        for locale in ("uk", "en", "uk"):
            for link in links:
                context = {**CONTEXT, "link": link}
                row = outbox.email_row(
                    to="a@example.org", template="hello", locale=locale, context=context
                )
                whole = outbox._parts("hello", locale, context)
                assert (row["subject"], row["text_body"], row["html_body"]) == whole
                assert link in row["text_body"] and "&amp;" not in row["text_body"]
        assert outbox._rendered_around_mark.cache_info().currsize >= 2  # uk and en


def sending_through(monkeypatch, auth_app, smtp_server) -> None:
    """The app's own config (which a worker reads) sends through `smtp_server`, one
    connection at a time, for this test only."""
    for key, value in {**smtp_server.config, "DELIVERY_CONNECTIONS": 1}.items():
        monkeypatch.setitem(auth_app.config, key, value)


def test_the_worker_keeps_its_connection_from_one_pass_to_the_next(
    auth_app, smtp_server, monkeypatch
):
    """A busy outbox sends a few messages a pass: a connection (a TLS handshake and a
    login, with a real relay) for every pass would cost more than the messages."""
    sending_through(monkeypatch, auth_app, smtp_server)
    worker = DeliveryWorker(auth_app)
    inbox = smtp_server.inbox
    for n in range(3):
        queue_hello(auth_app, to=f"reader{n}@example.org")
        assert worker.run_once(keep_connections=True)["sent"] == 1
    assert len(inbox.messages) == 3
    assert (inbox.sessions, inbox.quits) == (1, 0)
    queue_hello(auth_app, to="last@example.org")
    assert worker.run_once()["sent"] == 1  # a pass on its own closes what it opened
    wait_until(lambda: inbox.quits == 1)
    assert inbox.sessions == 1


def test_a_kept_connection_the_relay_dropped_is_opened_again_at_once(
    auth_app, smtp_server, monkeypatch
):
    sending_through(monkeypatch, auth_app, smtp_server)
    worker = DeliveryWorker(auth_app)
    queue_hello(auth_app, to="first@example.org")
    assert worker.run_once(keep_connections=True)["sent"] == 1
    # The relay restarts (or drops idle clients): the kept connection is dead.
    smtp_server.stop()
    smtp_server.start()
    queue_hello(auth_app, to="second@example.org")
    outcome = worker.run_once(keep_connections=True)
    worker.lanes.close()
    assert outcome == {"asked": 0, "sent": 1, "retry": 0, "failed": 0}  # not put off
    assert smtp_server.inbox.wait_for("second@example.org")
    assert smtp_server.inbox.sessions == 2


def test_the_running_worker_lets_an_idle_connection_go(auth_app, smtp_server, monkeypatch):
    sending_through(monkeypatch, auth_app, smtp_server)
    worker = DeliveryWorker(auth_app, poll_seconds=0.05, idle_seconds=0.3).start()
    inbox = smtp_server.inbox
    try:
        queue_hello(auth_app, to="first@example.org")
        worker.notify()
        inbox.wait_for("first@example.org")
        queue_hello(auth_app, to="second@example.org")
        worker.notify()
        inbox.wait_for("second@example.org")
        assert inbox.sessions == 1  # one connection for both
        wait_until(lambda: inbox.quits == 1)  # unused for 0.3 s: closed
    finally:
        worker.stop()
    queue_hello(auth_app, to="third@example.org")
    worker = DeliveryWorker(auth_app, poll_seconds=0.05).start()
    try:
        worker.notify()
        inbox.wait_for("third@example.org")
    finally:
        worker.stop()
    wait_until(lambda: inbox.quits == 2)  # a stopped worker closes its connection
    assert inbox.sessions == 2


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)


def test_the_delivery_connections_setting_is_checked_when_auth_starts():
    assert auth_settings({})["DELIVERY_CONNECTIONS"] == 4
    for wrong in ("0", "33", "many"):
        with pytest.raises(ConfigError, match="VICHE_DELIVERY_CONNECTIONS"):
            auth_settings({"VICHE_DELIVERY_CONNECTIONS": wrong})


def test_a_server_that_is_down_delays_mail_and_loses_none(auth_app):
    server = SmtpServer()  # its port, but not listening yet
    message_id = queue_hello(auth_app)
    assert deliver(auth_app, **server.config) == {"sent": 0, "retry": 1, "failed": 0}
    waiting = message(auth_app, message_id)
    assert waiting.status == "created" and waiting.attempts == 1
    assert waiting.next_attempt_at.replace(tzinfo=None) > utcnow().replace(tzinfo=None)
    assert deliver(auth_app, **server.config) == {"sent": 0, "retry": 0, "failed": 0}  # not due
    server.start()
    try:
        make_due(auth_app, message_id)
        assert deliver(auth_app, **server.config)["sent"] == 1
        server.inbox.wait_for("olena@example.org")
    finally:
        server.stop()
    with auth_app.app_context():
        outcomes = db.session.scalars(
            select(DeliveryAttempt.outcome)
            .where(DeliveryAttempt.message_id == message_id)
            .order_by(DeliveryAttempt.id)
        ).all()
    assert outcomes == ["retry", "sent"]


def test_a_refused_recipient_fails_without_retry(auth_app, smtp_server):
    smtp_server.inbox.refuse_with = "550 5.1.1 No such user"
    message_id = queue_hello(auth_app, to="nobody@example.org")
    assert deliver(auth_app, **smtp_server.config) == {"sent": 0, "retry": 0, "failed": 1}
    failed = message(auth_app, message_id)
    assert failed.status == "failed" and "550" in failed.last_error


def test_attempts_run_out(auth_app):
    server = SmtpServer()
    message_id = queue_hello(auth_app)
    for _ in range(3):
        make_due(auth_app, message_id)
        deliver(auth_app, DELIVERY_MAX_ATTEMPTS=3, **server.config)
    assert message(auth_app, message_id).status == "failed"


def test_a_message_stuck_in_sending_is_swept_back(auth_app):
    message_id = queue_hello(auth_app)
    with auth_app.app_context():
        assert claim_due(db.session) == [message_id]
        assert claim_due(db.session) == []  # claimed: nobody else takes it
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(claimed_at=utcnow() - timedelta(minutes=10))
        )
        db.session.commit()
        assert sweep(db.session, auth_app.config) == 1
        assert claim_due(db.session) == [message_id]


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent claims need a server database")
def test_concurrent_workers_never_take_the_same_message(auth_app):
    with auth_app.test_request_context("/"):
        for n in range(60):
            enqueue_email(
                db.session, to=f"r{n}@example.org", template="hello", locale="en", context=CONTEXT
            )
        db.session.commit()
        engine = db.engine
    claims: list[list[int]] = []
    start = threading.Barrier(4)

    def worker():
        with Session(engine) as session:
            start.wait()
            mine = []
            while batch := claim_due(session, limit=5):
                mine += batch
            claims.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [message_id for mine in claims for message_id in mine]
    assert len(every) == 60 and len(set(every)) == 60


def test_sms_through_a_real_kannel_keeps_cyrillic(auth_app, kannel):
    message_id = queue_hello(auth_app, to="+380501234567", channel="sms")
    assert deliver(auth_app, **kannel.config) == {"sent": 1, "retry": 0, "failed": 0}
    text = kannel.wait_for_sms("+380501234567")
    assert text.startswith("Вітаємо, Олена!")
    assert message(auth_app, message_id).status == "sent"


def made_ago(auth_app, message_id: int, age: timedelta, **values) -> None:
    with auth_app.app_context():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(created_at=utcnow() - age, **values)
        )
        db.session.commit()


def test_settled_messages_are_forgotten_once_old_enough_outside_development(auth_app):
    """SMS (codes) after an hour, emails (links; an email voter's address, which nothing
    else keeps) after a week: their recipient and text; what is still to be sent, never."""
    sms = queue_hello(auth_app, to="+380501234567", channel="sms")
    recent_sms = queue_hello(auth_app, to="+380501234568", channel="sms")
    old_email = queue_hello(auth_app, to="voter@example.org")
    failed_email = queue_hello(auth_app, to="bounced@example.org")
    week_old_email = queue_hello(auth_app, to="recent@example.org")
    assert deliver(auth_app) == {"sent": 5, "retry": 0, "failed": 0}  # the console backend
    waiting_email = queue_hello(auth_app, to="waiting@example.org")
    with auth_app.app_context():  # as a mail server's refusal reads
        db.session.add(
            DeliveryAttempt(
                message_id=failed_email, outcome="failed", error="550 bounced@example.org: no"
            )
        )
        db.session.commit()
    made_ago(auth_app, sms, timedelta(hours=2))
    made_ago(auth_app, recent_sms, timedelta(minutes=30))
    made_ago(auth_app, old_email, timedelta(days=8))
    made_ago(auth_app, failed_email, timedelta(days=8), status="failed")
    made_ago(auth_app, week_old_email, timedelta(days=6))
    made_ago(auth_app, waiting_email, timedelta(days=8), next_attempt_at=utcnow() + timedelta(1))

    with auth_app.app_context():
        sweep(db.session, {**auth_app.config, "DEV_OUTBOX": True})  # the dev outbox shows all
        assert "Олена" in db.session.get(OutboxMessage, sms).text_body
        sweep(db.session, {**auth_app.config, "DEV_OUTBOX": False})
    forgotten = {sms, old_email, failed_email}
    for message_id in (sms, recent_sms, old_email, failed_email, week_old_email, waiting_email):
        kept = message(auth_app, message_id)
        if message_id in forgotten:
            assert kept.redacted and "@" not in kept.recipient and "+380" not in kept.recipient
            assert "Олена" not in kept.text_body and kept.html_body is None
        else:
            assert not kept.redacted and "Олена" in kept.text_body, message_id
    assert message(auth_app, waiting_email).status == "created"  # still to be sent
    with auth_app.app_context():
        errors = db.session.scalars(
            select(DeliveryAttempt.error).where(DeliveryAttempt.message_id == failed_email)
        ).all()
    assert errors and not any("bounced@" in (error or "") for error in errors)


def test_a_backlog_of_old_messages_is_forgotten_in_short_steps(auth_app, monkeypatch):
    monkeypatch.setattr(outbox, "REDACT_AT_ONCE", 2)
    ids = [queue_hello(auth_app, to=f"old{n}@example.org") for n in range(5)]
    deliver(auth_app)
    for message_id in ids:
        made_ago(auth_app, message_id, timedelta(days=30))
    with auth_app.app_context(), statements_run(db.engine) as statements:
        sweep(db.session, {**auth_app.config, "DEV_OUTBOX": False})
    assert all(message(auth_app, message_id).redacted for message_id in ids)
    steps = [s for s in statements if s.lstrip().startswith("UPDATE") and "LIMIT" in s]
    assert len(steps) == 1 + 3  # SMS: none; emails: 2 + 2 + 1
    # A backlog larger than a sweep's steps is left to the next sweeps.
    monkeypatch.setattr(outbox, "REDACT_STEPS_PER_SWEEP", 1)
    more = [queue_hello(auth_app, to=f"older{n}@example.org") for n in range(3)]
    deliver(auth_app)
    for message_id in more:
        made_ago(auth_app, message_id, timedelta(days=30))
    for forgotten in (2, 3):
        with auth_app.app_context():
            sweep(db.session, {**auth_app.config, "DEV_OUTBOX": False})
        assert sum(message(auth_app, message_id).redacted for message_id in more) == forgotten


def test_the_dev_outbox_shows_messages(auth_app, client):
    message_id = queue_hello(auth_app)
    page = client.get("/api/auth/dev/outbox")
    assert page.status_code == 200
    assert "olena@example.org" in page.get_data(as_text=True)
    detail = client.get(f"/api/auth/dev/outbox/{message_id}").get_data(as_text=True)
    assert CONTEXT["link"] in detail
    assert 'sandbox="' in detail  # the HTML part cannot run scripts


def test_the_dev_outbox_does_not_exist_in_production():
    strong = "p" * 40
    app = create_app(
        {
            "VICHE_ENV": "production",
            "SECRET_KEY": strong,
            "INTERNAL_TOKEN": strong + "i",
            "HASH_KEY": strong + "h",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://unused/none",
        }
    )
    response = app.test_client().get("/dev/outbox")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_how_long_emails_are_kept_is_the_operators_choice(auth_app):
    kept_a_month = queue_hello(auth_app, to="month@example.org")
    deliver(auth_app)
    made_ago(auth_app, kept_a_month, timedelta(days=8))
    config = {**auth_app.config, "DEV_OUTBOX": False}
    with auth_app.app_context():
        sweep(db.session, {**config, "EMAIL_RETENTION_DAYS": 30})
    assert not message(auth_app, kept_a_month).redacted
    with auth_app.app_context():
        sweep(db.session, {**config, "EMAIL_RETENTION_DAYS": 7})
    assert message(auth_app, kept_a_month).redacted
    assert auth_settings({"VICHE_EMAIL_RETENTION_DAYS": "30"})["EMAIL_RETENTION_DAYS"] == 30
    for wrong in ("0", "366", "a week", "-1"):
        with pytest.raises(ConfigError):
            auth_settings({"VICHE_EMAIL_RETENTION_DAYS": wrong})
