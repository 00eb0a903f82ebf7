"""Many voters at once, folds running beside them: every ballot counted exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from services.common.timeutil import utcnow
from services.common.tokens import Principal
from services.polls import voting
from services.polls.errors import AlreadyVoted, LinkUsed
from services.polls.models import FoldWatermark, PendingVote, Poll
from services.polls.models import db as polls_db
from services.polls.tallies import (
    current_tallies,
    fold_votes,
    reconcile_closed,
    recount,
    stored_tallies,
)
from services.polls.voting import vote_with_account
from tests.auth.helpers import page_form
from tests.conftest import TEST_DB
from tests.polls.conftest import (
    confirmation_token,
    fold,
    new_poll,
    option_ids,
    request_email_vote,
)
from tests.support.concurrency import (
    as_processes_at_once,
    failures,
    released_together,
    while_row_locked,
)

pytestmark = [
    pytest.mark.usefixtures("councils"),
    pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent voting needs a server database"),
]


def test_many_threads_vote_while_folds_run_and_the_tallies_are_exact(client, people, polls_app):
    poll = new_poll(client, people, method="account+phone", allow_change=True, max_choices=2)
    options = option_ids(poll)
    with polls_app.app_context():
        engine = polls_db.engine
    receipts: list[str] = []
    refused: list[str] = []

    def voter(worker: int) -> None:
        for n in range(20):
            person = Principal(
                user_id=f"t{worker}-{n}",
                email_verified=True,
                email_hash=f"m{worker}-{n}",
                phone_verified=True,
                phone_hash=f"h{worker}-{n}",
            )
            first, second = options[n % 4], options[(n + worker) % 4]
            with polls_app.test_request_context("/"), Session(engine) as session:
                receipts.append(vote_with_account(session, person, poll["id"], [first]))
                # The same person changes their vote: still one ballot, moved tallies.
                vote_with_account(session, person, poll["id"], sorted({first, second}))
                # Another account with the same phone is refused.
                twin = Principal(
                    user_id=f"twin{worker}-{n}",
                    email_verified=True,
                    email_hash=f"twin-m{worker}-{n}",
                    phone_verified=True,
                    phone_hash=f"h{worker}-{n}",
                )
                try:
                    vote_with_account(session, twin, poll["id"], [first])
                except AlreadyVoted:
                    refused.append(twin.user_id)

    while_folding(polls_app, voter)
    assert len(set(receipts)) == 160 and len(refused) == 160
    assert_tallies_are_the_ballots(polls_app, poll["id"], voters=160)


def while_folding(polls_app, work: Callable[[int], None], workers: int = 8) -> None:
    """Run `work(0)` … `work(workers - 1)` in threads, released together with a thread
    that folds the votes in until they are done."""
    start = threading.Barrier(workers + 1)
    stop = threading.Event()

    def worker(n: int) -> None:
        start.wait()
        work(n)

    def folder() -> None:
        start.wait()
        while not stop.is_set():
            with polls_app.app_context():
                fold_votes(polls_db.session)
                polls_db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    folding = threading.Thread(target=folder)
    for thread in [*threads, folding]:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    folding.join()


def assert_tallies_are_the_ballots(polls_app, poll_id: int, voters: int) -> None:
    """Once everything is folded in: `voters` ballots, and tallies that say what they say."""
    fold(polls_app)
    with polls_app.app_context():
        stored = polls_db.session.get(Poll, poll_id)
        recounted, per_option = recount(polls_db.session, stored)
        assert recounted == voters
        counted_voters, counted = current_tallies(polls_db.session, poll_id)
        assert counted_voters == voters
        assert {o: v for o, v in counted.items() if v} == dict(per_option)
        # And nothing waits unfolded: the tallies alone say the same.
        assert stored_tallies(polls_db.session, stored) == (voters, counted)
        polls_db.session.remove()


def test_two_processes_reconcile_a_closed_poll_once(client, people, polls_app):
    """Every process runs the reconciliation job; at the same moment, a closed poll is
    recounted and made final by one of them, and the other fails on nothing."""
    poll = new_poll(client, people, method="account")
    choice = option_ids(poll)[0]
    for n in range(3):
        voted = client.post(
            f"/api/polls/polls/{poll['id']}/votes",
            json={"choices": [choice]},
            headers=people.resident(n),
        )
        assert voted.status_code == 201, voted.json
    fold(polls_app)  # as in any running installation, the streams' watermarks exist
    with polls_app.app_context():
        closed = polls_db.session.get(Poll, poll["id"])
        closed.state = "closed"
        closed.closed_at = utcnow() - timedelta(minutes=1)
        polls_db.session.commit()
    made_final = as_processes_at_once(polls_app, reconcile_closed)
    assert failures(made_final) == [] and sum(made_final) == 1
    results = client.get(f"/api/polls/polls/{poll['id']}/results").json
    assert results["voters"] == 3 and results["final"] is True


def test_a_fold_with_nothing_new_neither_locks_nor_waits(client, people, polls_app):
    """Every process folds twice a second: when nothing came since the last fold, it
    reads without taking the watermarks' locks, so it costs an idle service almost
    nothing and never queues behind a fold in another process."""
    poll = new_poll(client, people, method="account")
    voted = client.post(
        f"/api/polls/polls/{poll['id']}/votes",
        json={"choices": [option_ids(poll)[0]]},
        headers=people.resident(0),
    )
    assert voted.status_code == 201, voted.json
    assert fold(polls_app) == 1
    locked = select(FoldWatermark).with_for_update()
    assert while_row_locked(polls_app, locked, fold_votes) == [0]


def test_one_mailbox_pressing_confirm_on_two_votes_at_once_counts_one(
    gateway, client, people, auth_app, polls_app
):
    """Two votes asked for from one address, each Confirm button pressed in several tabs
    at the same moment: one vote counts, every other press is refused, and the vote
    left over counts nowhere."""
    poll = new_poll(client, people)
    first, second = option_ids(poll)[:2]
    forms = []
    for choice in (first, second):
        assert request_email_vote(client, poll["id"], [choice]).status_code == 202
        page = client.get(f"/api/auth/verify?token={confirmation_token(auth_app)}")
        forms.append(page_form(page.get_data(as_text=True)))

    def press(action: str, fields: dict):
        tab = Client(gateway)
        return lambda: tab.post(action, data=fields).status_code

    statuses = released_together([press(*form) for form in forms for _ in range(3)])
    assert sorted(statuses) == [200, 409, 409, 409, 409, 409]
    fold(polls_app)
    results = client.get(f"/api/polls/polls/{poll['id']}/results").json
    assert results["voters"] == 1 and sum(o["votes"] for o in results["options"]) == 1
    with polls_app.app_context():
        settled = polls_db.session.scalars(
            select(PendingVote.status).where(PendingVote.poll_id == poll["id"])
        ).all()
    assert sorted(settled) == ["confirmed", "refused"]


def test_email_votes_confirmed_in_races_count_once_per_address(client, people, polls_app):
    """Two threads confirm the same pending votes at once, in opposite orders, while folds
    run; each address has three pending votes. Every address counts once, every other
    confirmation is refused as used or as a second vote, and the tallies match the
    ballots."""
    poll = new_poll(client, people)
    options = option_ids(poll)
    with polls_app.app_context():
        engine = polls_db.engine
    now = utcnow()
    groups = {g: [f"p{g}-{n}" for n in range(15)] for g in range(4)}
    for pending_ids in groups.values():
        for n, pending_id in enumerate(pending_ids):
            voting.PENDING_VOTES.insert(
                engine,
                {
                    "id": pending_id,
                    "poll_id": poll["id"],
                    "choices": [options[n % 4]],
                    "status": "pending",
                    "created_at": now,
                    "expires_at": now + timedelta(hours=1),
                },
            )
    counted: list[str] = []
    refused: list[str] = []
    unexpected: list[Exception] = []

    def confirmer(worker: int) -> None:
        group = groups[worker % 4]
        for pending_id in group if worker < 4 else reversed(group):
            n = int(pending_id.rsplit("-", 1)[1])
            claims = {
                "sub": pending_id,
                "purpose": f"{voting.EMAIL_PURPOSE}{poll['id']}",
                "email_hash": f"e{worker % 4}-{n // 3}",  # three votes per address
            }
            with polls_app.test_request_context("/"), Session(engine) as session:
                try:
                    found = voting.poll_named_by(session, claims)
                    counted.append(voting.confirm_email_vote(session, claims, found).receipt)
                except (LinkUsed, AlreadyVoted):
                    refused.append(pending_id)
                except Exception as exc:
                    unexpected.append(exc)

    while_folding(polls_app, confirmer)
    assert unexpected == []
    assert len(counted) == len(set(counted)) == 20 and len(refused) == 120 - 20
    assert_tallies_are_the_ballots(polls_app, poll["id"], voters=20)
    with polls_app.app_context():
        statuses = polls_db.session.scalars(
            select(PendingVote.status).where(PendingVote.poll_id == poll["id"])
        ).all()
        polls_db.session.remove()
    assert sorted(statuses) == ["confirmed"] * 20 + ["refused"] * 40


def test_voters_asking_at_once_are_handed_to_auth_together(
    gateway, client, people, auth_app, polls_app, monkeypatch
):
    """Email votes asked for at the same moment reach auth in one call, and each voter
    gets a pending vote of their own, with an email whose link is theirs."""
    poll = new_poll(client, people)
    choice = option_ids(poll)[:1]
    batches: list[int] = []  # requests per call to auth
    call_service = voting.call_service

    def slow_first(service, method, path, **kwargs):
        if path.startswith("/internal/email-verifications"):
            batches.append(len(kwargs["json"].get("requests", [None])))
            if len(batches) == 1:  # the others queue up behind the first call meanwhile
                time.sleep(0.3)
        return call_service(service, method, path, **kwargs)

    monkeypatch.setattr(voting, "call_service", slow_first)
    voters = [f"together{n}@example.org" for n in range(8)]

    def ask(email: str):
        tab = Client(gateway)
        path = f"/api/polls/polls/{poll['id']}/email-votes"
        return lambda: tab.post(path, json={"email": email, "choices": choice})

    answers = released_together([ask(email) for email in voters])
    assert [answer.status_code for answer in answers] == [202] * 8
    assert sum(batches) == 8 and max(batches) > 1, batches
    with polls_app.app_context():
        pending = polls_db.session.scalars(
            select(PendingVote.id).where(PendingVote.poll_id == poll["id"])
        ).all()
    assert set(pending) == {answer.json["pending_id"] for answer in answers}
    # Each voter's link confirms that voter's own pending vote.
    for email, answer in zip(voters, answers, strict=True):
        page = client.get(f"/api/auth/verify?token={confirmation_token(auth_app, email)}")
        _, fields = page_form(page.get_data(as_text=True))
        proof = jwt.decode(fields["proof"], options={"verify_signature": False})
        assert proof["sub"] == answer.json["pending_id"]
