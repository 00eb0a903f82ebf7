"""When the council answers, the author and the signers who asked get an email."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.orm import Session

from services.auth.accounts.models import User
from services.auth.messaging.models import OutboxMessage
from services.auth.models import db as auth_db
from services.common.client import PEERS_KEY, Peer
from services.common.timeutil import utcnow
from services.petitions import notifications
from services.petitions.counts import fold_new_signatures
from services.petitions.models import PendingNotification
from services.petitions.models import db as petitions_db
from services.petitions.notifications import hand_over
from tests.conftest import TEST_DB
from tests.petitions.conftest import open_petition
from tests.petitions.test_lifecycle import _settled
from tests.support.tokens import bearer, make_token

API = "/api/petitions"


def account(auth_app, email: str) -> str:
    with auth_app.app_context():
        user = User(
            name=email.split("@")[0],
            email=email,
            locale="uk",
            link_nonce=0,
            email_verified_at=utcnow(),
        )
        auth_db.session.add(user)
        auth_db.session.commit()
        return str(user.id)


def test_signers_who_asked_hear_the_answer(client, people, councils, auth_app, petitions_app):
    petition_id = open_petition(client, people, threshold=2)
    wants, silent = account(auth_app, "wants@example.org"), account(auth_app, "quiet@example.org")
    for user_id, notify in ((wants, True), (silent, False)):
        token = make_token(auth_app, user_id, phone_hash=f"p{user_id}", name="Signer")
        assert (
            client.post(
                f"{API}/petitions/{petition_id}/signatures",
                json={"notify": notify},
                headers=bearer(token),
            ).status_code
            == 201
        )
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    client.post(
        f"{API}/petitions/{petition_id}/response",
        json={"text": "Рада підтримує петицію.", "decision": "supported"},
        headers=people.moderator(),
    )
    with petitions_app.test_request_context("/"):
        assert hand_over(petitions_db.session) == 1
        assert hand_over(petitions_db.session) == 0  # once
    with auth_app.app_context():
        sent_to = {
            m.recipient
            for m in auth_db.session.query(OutboxMessage)
            if m.template == "petition_response"
        }
    assert sent_to == {"wants@example.org"}


def test_a_notification_waits_while_auth_is_down(client, people, councils, auth_app, petitions_app):
    petition_id = open_petition(client, people, threshold=1)
    signer = make_token(auth_app, "41", phone_hash="p41", name="Signer")
    signed = client.post(
        f"{API}/petitions/{petition_id}/signatures", json={"notify": True}, headers=bearer(signer)
    )
    assert signed.status_code == 201
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    client.post(
        f"{API}/petitions/{petition_id}/response",
        json={"text": "Рада підтримує петицію.", "decision": "supported"},
        headers=people.moderator(),
    )
    peers = petitions_app.extensions["viche.peers"]
    saved = peers.pop("auth")
    try:
        with petitions_app.test_request_context("/"):
            petitions_app.config["SERVICE_URLS"] = {"auth": "http://127.0.0.1:9"}
            assert hand_over(petitions_db.session) == 0
    finally:
        peers["auth"] = saved
        petitions_app.config["SERVICE_URLS"] = {}
    with petitions_app.test_request_context("/"):
        pending = petitions_db.session.query(PendingNotification).one()
        assert pending.sent_at is None and pending.attempts == 1 and pending.last_error
        assert hand_over(petitions_db.session) == 1


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent jobs need a server database")
def test_two_processes_hand_over_each_notification_once(
    client, people, councils, auth_app, petitions_app
):
    """Every process runs the job; at the same moment, each signer still gets one email
    per response."""
    signer = account(auth_app, "twice@example.org")
    token = bearer(make_token(auth_app, signer, phone_hash="p-twice", name="Signer"))
    for n in range(3):
        petition_id = open_petition(client, people, threshold=1, title=f"Петиція {n}")
        signed = client.post(
            f"{API}/petitions/{petition_id}/signatures", json={"notify": True}, headers=token
        )
        assert signed.status_code == 201
        with petitions_app.app_context(), _settled():
            fold_new_signatures(petitions_db.session)
        answered = client.post(
            f"{API}/petitions/{petition_id}/response",
            json={"text": "Рада підтримує петицію.", "decision": "supported"},
            headers=people.moderator(),
        )
        assert answered.status_code == 200
    with petitions_app.app_context():
        engine = petitions_db.engine
    start = threading.Barrier(2)
    handed, failures = [], []

    def job() -> None:
        with petitions_app.test_request_context("/"), Session(engine) as session:
            start.wait()
            try:
                handed.append(hand_over(session))
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and sum(handed) == 3
    with auth_app.app_context():
        emails = [
            m.recipient
            for m in auth_db.session.query(OutboxMessage)
            if m.template == "petition_response"
        ]
    assert sorted(emails).count("twice@example.org") == 3


def test_a_retry_goes_on_from_where_a_long_list_stopped(
    client, people, councils, auth_app, petitions_app, monkeypatch
):
    """Auth takes the first chunk of recipients and fails on the next: the retry hands
    over only the rest, and nobody gets the email twice."""
    monkeypatch.setattr(notifications, "CHUNK", 1)
    petition_id = open_petition(client, people, threshold=1)
    signers = [account(auth_app, f"chunk{n}@example.org") for n in range(3)]
    for user_id in signers:
        token = make_token(auth_app, user_id, phone_hash=f"p{user_id}", name="Signer")
        signed = client.post(
            f"{API}/petitions/{petition_id}/signatures",
            json={"notify": True},
            headers=bearer(token),
        )
        assert signed.status_code == 201
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    client.post(
        f"{API}/petitions/{petition_id}/response",
        json={"text": "Рада підтримує петицію.", "decision": "supported"},
        headers=people.moderator(),
    )
    peers = petitions_app.extensions[PEERS_KEY]
    real = peers["auth"]
    calls = []

    def auth_failing_on_the_third_call(environ, start_response):
        if environ["PATH_INFO"].endswith("/internal/notifications"):
            calls.append(environ["PATH_INFO"])
            if len(calls) == 3:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"down"]
        return real.app(environ, start_response)

    peers["auth"] = Peer(auth_failing_on_the_third_call, real.prefix)
    try:
        with petitions_app.test_request_context("/"):
            assert hand_over(petitions_db.session) == 0  # two signers' chunks went, not the third
            assert hand_over(petitions_db.session) == 1
    finally:
        peers["auth"] = real
    assert len(calls) == 3 + 1  # the retry sent the third chunk only
    with auth_app.app_context():
        sent = sorted(
            m.recipient
            for m in auth_db.session.query(OutboxMessage)
            if m.template == "petition_response"
        )
    assert sent == [f"chunk{n}@example.org" for n in range(3)]
