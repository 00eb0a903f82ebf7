"""A petition's author hears what became of it; when the council answers, the signers who
asked hear it too."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

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
from tests.petitions.conftest import TEXT, open_petition
from tests.petitions.test_lifecycle import _settled
from tests.support.concurrency import as_processes_at_once, failures
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


def answered_to_three_signers(client, people, auth_app, petitions_app, monkeypatch, name):
    """A petition answered after three signers asked to hear back, its recipients handed
    to auth one at a time (a chunk of one); their addresses."""
    monkeypatch.setattr(notifications, "CHUNK", 1)
    petition_id = open_petition(client, people, threshold=1)
    addresses = [f"{name}{n}@example.org" for n in range(3)]
    for address in addresses:
        sign(client, auth_app, petition_id, account(auth_app, address))
    answer(client, people, petitions_app, petition_id)
    return addresses


@contextmanager
def auth_notified_through(petitions_app, on_call):
    """Petitions' calls to auth's notification API go through
    `on_call(number, environ, start_response, auth)`, which answers (auth's answer, or
    its own) or raises; yields the list of calls."""
    peers = petitions_app.extensions[PEERS_KEY]
    real = peers["auth"]
    calls = []

    def wrapped(environ, start_response):
        if environ["PATH_INFO"].endswith("/internal/notifications"):
            calls.append(environ["PATH_INFO"])
            return on_call(len(calls), environ, start_response, real.app)
        return real.app(environ, start_response)

    peers["auth"] = Peer(wrapped, real.prefix)
    try:
        yield calls
    finally:
        peers["auth"] = real


def sign(client, auth_app, petition_id: int, user_id: str, notify: bool = True) -> None:
    token = make_token(auth_app, user_id, phone_hash=f"p{user_id}", name="Signer")
    signed = client.post(
        f"{API}/petitions/{petition_id}/signatures", json={"notify": notify}, headers=bearer(token)
    )
    assert signed.status_code == 201


def answer(client, people, petitions_app, petition_id: int) -> None:
    """The signatures counted (the threshold reached), then the council's response."""
    counted_and_author_told(petitions_app)
    respond(client, people, petitions_app, petition_id)


def counted_and_author_told(petitions_app) -> None:
    """The signatures counted, and the authors' news so far (approved, threshold
    reached) handed over: what is handed over from here on is a response."""
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    with petitions_app.test_request_context("/"):
        hand_over(petitions_db.session)


def respond(client, people, petitions_app, petition_id: int) -> None:
    """The council's response; the author's message of it handed over at once (it comes
    first), so that what is left to hand over is the signers'."""
    answered = client.post(
        f"{API}/petitions/{petition_id}/response",
        json={"text": "Рада підтримує петицію.", "decision": "supported"},
        headers=people.moderator(),
    )
    assert answered.status_code == 200
    with petitions_app.test_request_context("/"):
        hand_over(petitions_db.session, limit=1)


def response_emails(auth_app) -> list[str]:
    """Everyone auth was asked to tell of a response, as many times as it was asked."""
    with auth_app.app_context():
        return sorted(
            m.recipient
            for m in auth_db.session.query(OutboxMessage)
            if m.template == "petition_response"
        )


def test_signers_who_asked_hear_the_answer(client, people, councils, auth_app, petitions_app):
    petition_id = open_petition(client, people, threshold=2)
    wants, silent = account(auth_app, "wants@example.org"), account(auth_app, "quiet@example.org")
    for user_id, notify in ((wants, True), (silent, False)):
        sign(client, auth_app, petition_id, user_id, notify)
    answer(client, people, petitions_app, petition_id)
    with petitions_app.test_request_context("/"):
        assert hand_over(petitions_db.session) == 1
        assert hand_over(petitions_db.session) == 0  # once
    assert set(response_emails(auth_app)) == {"wants@example.org"}


def test_a_notification_waits_while_auth_is_down(client, people, councils, auth_app, petitions_app):
    petition_id = open_petition(client, people, threshold=1)
    sign(client, auth_app, petition_id, "41")
    answer(client, people, petitions_app, petition_id)
    peers = petitions_app.extensions[PEERS_KEY]
    saved = peers.pop("auth")
    try:
        with petitions_app.test_request_context("/"):
            petitions_app.config["SERVICE_URLS"] = {"auth": "http://127.0.0.1:9"}
            assert hand_over(petitions_db.session) == 0
    finally:
        peers["auth"] = saved
        petitions_app.config["SERVICE_URLS"] = {}
    with petitions_app.test_request_context("/"):
        pending = petitions_db.session.query(PendingNotification).filter_by(kind="response").one()
        assert pending.sent_at is None and pending.attempts == 1 and pending.last_error
        assert hand_over(petitions_db.session) == 1


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent jobs need a server database")
def test_two_processes_hand_over_each_notification_once(
    client, people, councils, auth_app, petitions_app
):
    """Every process runs the job; at the same moment, each signer still gets one email
    per response."""
    signer = account(auth_app, "twice@example.org")
    petition_ids = []
    for n in range(3):
        petition_ids.append(open_petition(client, people, threshold=1, title=f"Петиція {n}"))
        sign(client, auth_app, petition_ids[-1], signer)
    counted_and_author_told(petitions_app)
    for petition_id in petition_ids:
        respond(client, people, petitions_app, petition_id)
    handed = as_processes_at_once(petitions_app, hand_over)
    assert failures(handed) == [] and sum(handed) == 3
    assert response_emails(auth_app).count("twice@example.org") == 3


def test_a_retry_goes_on_from_where_a_long_list_stopped(
    client, people, councils, auth_app, petitions_app, monkeypatch
):
    """Auth takes the first chunk of recipients and fails on the next: the retry hands
    over only the rest, and nobody gets the email twice."""
    addresses = answered_to_three_signers(
        client, people, auth_app, petitions_app, monkeypatch, "chunk"
    )

    def failing_on_the_third_call(number, environ, start_response, auth):
        if number == 3:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down"]
        return auth(environ, start_response)

    with (
        auth_notified_through(petitions_app, failing_on_the_third_call) as calls,
        petitions_app.test_request_context("/"),
    ):
        assert hand_over(petitions_db.session) == 0  # two signers' chunks went, not the third
        assert hand_over(petitions_db.session) == 1
    assert len(calls) == 3 + 1  # the retry sent the third chunk only
    assert response_emails(auth_app) == addresses


class ProcessDied(Exception):
    """What the job meets when its process is killed part way (a connection reset, an
    out-of-memory kill, a deploy): nothing that counts as auth being unavailable."""


def test_a_retry_after_the_job_died_sends_only_the_rest(
    client, people, councils, auth_app, petitions_app, monkeypatch
):
    """Auth takes two chunks of recipients, then the job dies: what auth took stays
    handed over, and the next run sends only the third chunk."""
    addresses = answered_to_three_signers(
        client, people, auth_app, petitions_app, monkeypatch, "died"
    )

    def dying_on_the_third_call(number, environ, start_response, auth):
        if number == 3:
            raise ProcessDied
        return auth(environ, start_response)

    with (
        auth_notified_through(petitions_app, dying_on_the_third_call) as calls,
        petitions_app.test_request_context("/"),
    ):
        with pytest.raises(ProcessDied):
            hand_over(petitions_db.session)
        petitions_db.session.remove()  # the process is gone, and its transaction
        assert hand_over(petitions_db.session) == 1
    assert len(calls) == 3 + 1  # the next run sent the third chunk only
    assert response_emails(auth_app) == addresses
    with petitions_app.app_context():
        pending = petitions_db.session.query(PendingNotification).filter_by(kind="response").one()
        assert pending.sent_at is not None and pending.attempts == 2


def test_a_chunk_auth_took_just_before_the_job_died_is_not_sent_twice(
    client, people, councils, auth_app, petitions_app, monkeypatch
):
    """The job dies after auth took the second chunk and before its progress was
    committed: the next run hands that chunk over again, under the same key, and auth
    does not send it again."""
    addresses = answered_to_three_signers(
        client, people, auth_app, petitions_app, monkeypatch, "lost"
    )

    def dying_after_the_second_call(number, environ, start_response, auth):
        answered = b"".join(auth(environ, start_response))  # auth took it and committed
        if number == 2:
            raise ProcessDied
        return [answered]

    with (
        auth_notified_through(petitions_app, dying_after_the_second_call) as calls,
        petitions_app.test_request_context("/"),
    ):
        with pytest.raises(ProcessDied):
            hand_over(petitions_db.session)
        petitions_db.session.remove()
        assert hand_over(petitions_db.session) == 1
    assert len(calls) == 2 + 2  # the second chunk was handed over twice…
    assert response_emails(auth_app) == addresses  # …and mailed once


def test_a_process_stops_where_another_went_on_between_chunks(
    client, people, councils, auth_app, petitions_app, monkeypatch
):
    """Between two chunks the notification is free a moment: another process that takes
    it then sends the rest, and the first stops without sending anything again."""
    addresses = answered_to_three_signers(
        client, people, auth_app, petitions_app, monkeypatch, "between"
    )
    other: list = []

    def the_other_process_runs(session):
        other.extend(as_processes_at_once(petitions_app, hand_over, processes=1))

    with petitions_app.test_request_context("/"):
        event.listen(petitions_db.session(), "after_commit", the_other_process_runs, once=True)
        first = hand_over(petitions_db.session)
    assert failures(other) == [] and (first, other) == (0, [1])
    assert response_emails(auth_app) == addresses


@pytest.mark.skipif(TEST_DB != "postgres", reason="row locks need a server database")
def test_a_process_stops_when_another_holds_the_notification_between_chunks(
    client, people, councils, auth_app, petitions_app, monkeypatch
):
    """Another process that locked the notification while it was free between two chunks
    keeps it: the first stops, and the rest goes once, from the committed progress."""
    addresses = answered_to_three_signers(
        client, people, auth_app, petitions_app, monkeypatch, "held"
    )
    with petitions_app.app_context():
        holder = petitions_db.engine.connect()

    def another_process_locks_it(session):
        holder.execute(select(PendingNotification.id).with_for_update())

    try:
        with petitions_app.test_request_context("/"):
            event.listen(
                petitions_db.session(), "after_commit", another_process_locks_it, once=True
            )
            assert hand_over(petitions_db.session) == 0
            assert response_emails(auth_app) == ["held0@example.org"]
    finally:
        holder.close()  # the other process lets it go without sending
    with petitions_app.test_request_context("/"):
        assert hand_over(petitions_db.session) == 1
    assert response_emails(auth_app) == addresses


def filed_by(client, auth_app, author_id: str, title: str) -> int:
    """A petition filed and submitted by the account `author_id`."""
    author = bearer(make_token(auth_app, author_id, phone_hash=f"p{author_id}", name="Author"))
    created = client.post(
        f"{API}/petitions", json={"council": "kyiv", "title": title, "text": TEXT}, headers=author
    )
    assert created.status_code == 201, created.json
    submitted = client.post(f"{API}/petitions/{created.json['id']}/submit", headers=author)
    assert submitted.status_code == 200, submitted.json
    return created.json["id"]


def mailed(auth_app) -> list[tuple[str, str, str]]:
    """(template, recipient, text) of every notification auth queued, oldest first."""
    with auth_app.app_context():
        return [
            (m.template, m.recipient, m.text_body)
            for m in auth_db.session.query(OutboxMessage).order_by(OutboxMessage.id)
            if m.template.startswith("petition_")
        ]


def handed_over(petitions_app) -> None:
    with petitions_app.test_request_context("/"):
        hand_over(petitions_db.session)


def kinds(petitions_app, petition_id: int) -> list[str]:
    with petitions_app.app_context():
        return list(
            petitions_db.session.scalars(
                select(PendingNotification.kind)
                .where(PendingNotification.petition_id == petition_id)
                .order_by(PendingNotification.id)
            )
        )


def test_the_author_hears_each_step_and_signers_only_the_answer(
    client, people, councils, auth_app, petitions_app
):
    client.put(f"{API}/councils/kyiv/policy", json={"threshold": 1}, headers=people.admin())
    author = account(auth_app, "author@example.org")
    petition_id = filed_by(client, auth_app, author, "Лавки у сквері біля ринку")
    assert kinds(petitions_app, petition_id) == []  # filing and submitting tell nobody
    # A refused step writes nothing.
    refused = client.post(f"{API}/petitions/{petition_id}/response", headers=people.moderator())
    assert refused.status_code in (409, 422) and kinds(petitions_app, petition_id) == []
    approved = client.post(f"{API}/petitions/{petition_id}/approve", headers=people.moderator())
    assert approved.status_code == 200
    signer = account(auth_app, "signer@example.org")
    sign(client, auth_app, petition_id, signer)  # asked to hear of the answer
    answer(client, people, petitions_app, petition_id)
    handed_over(petitions_app)
    assert kinds(petitions_app, petition_id) == ["approved", "successful", "answered", "response"]
    url = f"/petitions/{petition_id}"
    sent = mailed(auth_app)
    assert [(template, to) for template, to, _ in sent] == [
        ("petition_approved", "author@example.org"),
        ("petition_successful", "author@example.org"),
        ("petition_answered", "author@example.org"),
        ("petition_response", "signer@example.org"),
    ]
    assert all(url in text and "Лавки у сквері біля ринку" in text for _, _, text in sent)


def test_a_rejection_is_told_with_the_link_not_the_explanation(
    client, people, councils, auth_app, petitions_app
):
    author = account(auth_app, "rejected@example.org")
    petition_id = filed_by(client, auth_app, author, "Перенести ринок")
    rejected = client.post(
        f"{API}/petitions/{petition_id}/reject",
        json={"reason": "outside-competence", "explanation": "Це питання обласної ради."},
        headers=people.moderator(),
    )
    assert rejected.status_code == 200
    handed_over(petitions_app)
    [(template, to, text)] = mailed(auth_app)
    assert (template, to) == ("petition_rejected", "rejected@example.org")
    assert f"/petitions/{petition_id}" in text and "обласної" not in text
    assert "Громада відхилила вашу петицію «Перенести ринок»" in text  # the author's language


@pytest.mark.parametrize("on_failure", ["closed", "appeal"])
def test_a_petition_that_ends_short_is_told_closed_or_forwarded(
    client, people, councils, auth_app, petitions_app, on_failure
):
    from services.petitions.lifecycle import close_expired
    from tests.petitions.conftest import make_due_date_pass

    policy = {"threshold": 5, "on_failure": on_failure}
    client.put(f"{API}/councils/kyiv/policy", json=policy, headers=people.admin())
    author = account(auth_app, f"short-{on_failure}@example.org")
    petition_id = filed_by(client, auth_app, author, "Фонтан у парку")
    client.post(f"{API}/petitions/{petition_id}/approve", headers=people.moderator())
    make_due_date_pass(petitions_app, petition_id, "deadline_at")
    with petitions_app.app_context():
        assert close_expired(petitions_db.session) == 1
    handed_over(petitions_app)
    kind = "forwarded" if on_failure == "appeal" else "closed"
    assert kinds(petitions_app, petition_id) == ["approved", kind]
    assert [template for template, _, _ in mailed(auth_app)] == [
        "petition_approved",
        f"petition_{kind}",
    ]
