"""Reset links and confirmation links asked for again: a `mail_requests` row that the
delivery worker answers. An attacker floods the table, asks before the victim registers,
or leaves a row the worker cannot answer; none of it holds up anyone's mail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from services.auth.accounts.models import MailRequest, User
from services.auth.messaging.models import OutboxMessage
from services.auth.messaging.worker import DeliveryWorker
from services.auth.models import db
from services.common.timeutil import utcnow
from tests.auth.helpers import (
    answer_mail_requests,
    confirmed_resident,
    messages,
    register,
)

FORGOT = "/api/auth/password/forgot"
RESEND = "/api/auth/email/resend"


def waiting(auth_app) -> int:
    with auth_app.app_context():
        return db.session.scalar(select(func.count(MailRequest.id)))


def test_a_row_the_worker_cannot_answer_holds_up_no_mail(client, auth_app):
    """A row of a kind this version does not know (written by a newer one, or by hand)
    used to raise in every pass before the outbox was delivered: no email went out
    again. Now it is logged and dropped, and the requests behind it are answered."""
    confirmed_resident(client, auth_app)
    with auth_app.app_context():
        db.session.add(MailRequest(kind="no-such-kind", email="olena@example.org"))
        db.session.commit()
    assert client.post(FORGOT, json={"email": "olena@example.org"}).status_code == 202
    with auth_app.app_context():
        before = db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "sent")
        )
    outcome = DeliveryWorker(auth_app).run_once()
    assert outcome["asked"] == 2 and waiting(auth_app) == 0
    assert len(messages(auth_app, "olena@example.org", "reset_password")) == 1
    with auth_app.app_context():
        sent = db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "sent")
        )
    assert sent > before  # the reset link itself went out in the same pass


def test_a_fault_while_answering_drops_that_request_only(client, auth_app, monkeypatch):
    from services.auth.accounts import recovery

    confirmed_resident(client, auth_app)
    confirmed_resident(client, auth_app, "taras@example.org")
    for email in ("olena@example.org", "taras@example.org"):
        assert client.post(FORGOT, json={"email": email}).status_code == 202
    send = recovery._MAIL_REQUESTS["reset_password"]

    def faulty(session, settings, email, asked_at):
        if email == "olena@example.org":
            raise RuntimeError("a fault")
        send(session, settings, email, asked_at)

    monkeypatch.setitem(recovery._MAIL_REQUESTS, "reset_password", faulty)
    assert answer_mail_requests(auth_app) == 2 and waiting(auth_app) == 0
    assert messages(auth_app, "olena@example.org", "reset_password") == []
    assert len(messages(auth_app, "taras@example.org", "reset_password")) == 1


def test_asking_again_and_again_adds_one_row_and_a_client_asks_so_many_times(client, auth_app):
    for _ in range(5):
        assert client.post(FORGOT, json={"email": "victim@example.org"}).status_code == 202
        assert client.post(RESEND, json={"email": "victim@example.org"}).status_code == 202
    assert waiting(auth_app) == 2  # one of each kind waits
    for n in range(20):  # thirty requests an hour from one client, whatever the addresses
        assert client.post(FORGOT, json={"email": f"a{n}@example.org"}).status_code == 202
    refused = client.post(FORGOT, json={"email": "b@example.org"})
    assert refused.status_code == 429 and refused.json["type"].endswith(":rate-limited")
    assert int(refused.headers["Retry-After"]) > 0
    again = client.post(RESEND, json={"email": "b@example.org"})
    assert again.status_code == 429
    assert waiting(auth_app) == 22  # the refused wrote nothing
    other = client.post(
        FORGOT, json={"email": "b@example.org"}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    assert other.status_code == 202  # another client is not held up


def test_a_request_made_before_the_address_registered_sends_it_nothing(client, auth_app):
    """A stranger asks for a reset link (or the confirmation link) for an address with no
    account; the request waits (the worker is busy or down), and then its owner registers:
    the new account gets no mail it did not ask for."""
    for path in (FORGOT, RESEND):
        assert client.post(path, json={"email": "olena@example.org"}).status_code == 202
    with auth_app.app_context():
        db.session.execute(update(MailRequest).values(created_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    assert register(client).status_code == 202  # the account's own confirmation link
    assert answer_mail_requests(auth_app) == 2
    assert messages(auth_app, "olena@example.org", "reset_password") == []
    assert len(messages(auth_app, "olena@example.org", "confirm_email")) == 1


def test_the_reset_email_greets_by_name_only_a_confirmed_address(client, auth_app):
    """Whoever opened an account in someone else's address must not have the name they
    chose mailed to that address ("Hello, <insult>!") by asking for a reset link."""
    assert register(client, name="Someone Rude").status_code == 202
    with auth_app.app_context():  # past the minute between a confirmation and a reset
        db.session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(minutes=2)))
        db.session.execute(update(User).values(created_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
    assert client.post(FORGOT, json={"email": "olena@example.org"}).status_code == 202
    answer_mail_requests(auth_app)
    mail = messages(auth_app, "olena@example.org", "reset_password")[-1]
    assert "Someone Rude" not in mail.text_body and "Someone Rude" not in mail.html_body

    confirmed_resident(client, auth_app, "taras@example.org", name="Taras")
    assert client.post(FORGOT, json={"email": "taras@example.org"}).status_code == 202
    answer_mail_requests(auth_app)
    assert "Taras" in messages(auth_app, "taras@example.org", "reset_password")[-1].text_body


def test_registering_again_tells_an_unconfirmed_address_no_name(client, auth_app):
    """Whoever opened an account in a stranger's address with a name of their choosing
    registers with the address again and again: each "you already have an account"
    email greeted the stranger by that name. It does once the address is confirmed."""
    assert register(client, name="Someone Rude").status_code == 202
    assert register(client, name="Anyone").status_code == 202
    mail = messages(auth_app, "olena@example.org", "already_registered")[-1]
    assert "Someone Rude" not in mail.text_body + (mail.html_body or "")

    confirmed_resident(client, auth_app, "taras@example.org", name="Taras")
    assert register(client, "taras@example.org", name="Anyone").status_code == 202
    mail = messages(auth_app, "taras@example.org", "already_registered")[-1]
    assert "Taras" in mail.text_body
