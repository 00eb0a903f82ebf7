"""Voting as a signed-in resident: one ballot per person, checked choices, exact tallies."""

from __future__ import annotations

import pytest

from services.polls.models import Poll
from services.polls.models import db as polls_db
from services.polls.tallies import stored_tallies
from tests.polls.conftest import fold, new_poll, option_ids, tally_entries

pytestmark = pytest.mark.usefixtures("councils")


def vote(client, poll_id, headers, choices):
    return client.post(
        f"/api/polls/polls/{poll_id}/votes", json={"choices": choices}, headers=headers
    )


def results(client, poll_id, **params):
    return client.get(f"/api/polls/polls/{poll_id}/results", query_string=params)


def test_a_resident_votes_once_and_the_results_count_it(client, people, polls_app):
    poll = new_poll(client, people, method="account")
    site, facebook, *_ = option_ids(poll)
    first = vote(client, poll["id"], people.resident(1), [site])
    assert first.status_code == 201 and len(first.json["receipt"]) == 24
    assert vote(client, poll["id"], people.resident(2), [facebook]).status_code == 201
    assert vote(client, poll["id"], people.resident(3), [site]).status_code == 201
    again = vote(client, poll["id"], people.resident(1), [facebook])
    assert again.status_code == 409 and again.json["type"].endswith(":already-voted")

    # Before the aggregator folds: a voter's own ballot shows to them (by its receipt)
    # at once; the rest show at the next fold, so a read never adds up a backlog.
    own = results(client, poll["id"], receipt=first.json["receipt"]).json
    assert own["voters"] == 1 and {o["id"]: o["votes"] for o in own["options"]}[site] == 1
    assert results(client, poll["id"]).json["voters"] == 0
    assert fold(polls_app) == 3  # three ballots, nothing else
    after = results(client, poll["id"]).json
    votes = {o["id"]: o["votes"] for o in after["options"]}
    assert after["voters"] == 3 and votes[site] == 2 and votes[facebook] == 1
    assert after["verification"] == "account" and after["final"] is False
    assert [o["percent"] for o in after["options"]] == [66.7, 33.3, 0.0, 0.0]
    # The reader's ballot, folded now, counts once.
    assert results(client, poll["id"], receipt=first.json["receipt"]).json == after


def test_changing_a_vote_where_the_poll_allows_it(client, people, polls_app):
    poll = new_poll(client, people, method="account", allow_change=True, max_choices=2)
    a, b, c, _ = option_ids(poll)
    resident = people.resident()
    receipt = vote(client, poll["id"], resident, [a, b]).json["receipt"]
    fold(polls_app)
    changed = vote(client, poll["id"], resident, [c, b])
    assert changed.status_code == 201 and changed.json["receipt"] == receipt
    # The change is two entries (c in, a out): its voter sees it at once, others once
    # it is folded.
    assert tally_entries(polls_app) == [(c, 1), (a, -1)]
    data = results(client, poll["id"], receipt=receipt).json
    assert data["voters"] == 1
    assert {o["id"]: o["votes"] for o in data["options"]} == {a: 0, b: 1, c: 1, _: 0}
    before = results(client, poll["id"]).json
    assert {o["id"]: o["votes"] for o in before["options"]} == {a: 1, b: 1, c: 0, _: 0}
    assert fold(polls_app) == 2
    assert results(client, poll["id"]).json == data
    assert results(client, poll["id"], receipt=receipt).json == data  # counted once


def test_a_vote_is_its_ballot_alone_and_shows_to_its_voter_before_it_is_folded(
    client, people, polls_app
):
    poll = new_poll(client, people, method="account", max_choices=2)
    a, b, c, d = option_ids(poll)
    cast = vote(client, poll["id"], people.resident(), [a, b])
    assert cast.status_code == 201
    assert tally_entries(polls_app) == []  # the ballot is the whole vote
    data = results(client, poll["id"], receipt=cast.json["receipt"]).json
    assert data["voters"] == 1
    assert {o["id"]: o["votes"] for o in data["options"]} == {a: 1, b: 1, c: 0, d: 0}
    assert results(client, poll["id"]).json["voters"] == 0  # others see it once folded
    assert fold(polls_app) == 1
    assert results(client, poll["id"]).json == data
    assert results(client, poll["id"], receipt=cast.json["receipt"]).json == data


def test_a_vote_changed_before_any_fold_ends_exact(client, people, polls_app):
    poll = new_poll(client, people, method="account", allow_change=True, max_choices=2)
    a, b, c, d = option_ids(poll)
    resident = people.resident()
    receipt = vote(client, poll["id"], resident, [a, b]).json["receipt"]
    assert vote(client, poll["id"], resident, [c, b]).status_code == 201
    # The change appends what moved, one option in and one out; its voter counts already.
    assert tally_entries(polls_app) == [(c, 1), (a, -1)]
    # Its voter sees the vote as it is now, before anything is folded.
    data = results(client, poll["id"], receipt=receipt).json
    assert data["voters"] == 1
    assert {o["id"]: o["votes"] for o in data["options"]} == {a: 0, b: 1, c: 1, d: 0}
    assert fold(polls_app) == 3  # the ballot as first cast, and the two entries
    assert results(client, poll["id"]).json == data
    assert results(client, poll["id"], receipt=receipt).json == data
    with polls_app.app_context():
        stored = polls_db.session.get(Poll, poll["id"])
        assert stored_tallies(polls_db.session, stored) == (1, {b: 1, c: 1})
        polls_db.session.remove()


@pytest.mark.parametrize(
    "choices, why",
    [([], "nothing chosen"), ([999999], "not an option"), ("first", "not a list"), (None, "null")],
)
def test_bad_choices_are_refused(client, people, polls_app, choices, why):
    poll = new_poll(client, people, method="account")
    response = vote(client, poll["id"], people.resident(), choices)
    assert response.status_code == 422, why
    assert response.headers["Content-Type"] == "application/problem+json"
    assert fold(polls_app) == 0


def test_too_many_or_repeated_choices_are_refused(client, people):
    poll = new_poll(client, people, method="account", max_choices=2)
    a, b, c, _ = option_ids(poll)
    too_many = vote(client, poll["id"], people.resident(), [a, b, c])
    assert too_many.status_code == 422 and "choices" in too_many.json["errors"]
    repeated = vote(client, poll["id"], people.resident(), [a, a])
    assert repeated.status_code == 422
    # An option of another poll is not an option of this one.
    other = new_poll(client, people, method="account")
    foreign = vote(client, poll["id"], people.resident(), option_ids(other)[:1])
    assert foreign.status_code == 422
    # The limit is said in words that fit it.
    assert too_many.json["errors"]["choices"] == ["Choose at most 2 answers."]
    single = vote(client, other["id"], people.resident(), option_ids(other)[:2])
    assert single.json["errors"]["choices"] == ["Choose one answer."]


def test_verification_levels_and_methods(client, people):
    account = new_poll(client, people, method="account")
    phone = new_poll(client, people, method="account+phone")
    email = new_poll(client, people, method="email")
    unconfirmed = people.resident(1, email_verified=False)
    no_phone = people.resident(2, phone_verified=False, phone_hash=None)
    assert vote(client, account["id"], unconfirmed, option_ids(account)[:1]).status_code == 403
    assert vote(client, account["id"], no_phone, option_ids(account)[:1]).status_code == 201
    refused = vote(client, phone["id"], no_phone, option_ids(phone)[:1])
    assert refused.status_code == 403 and refused.json["type"].endswith(":verification-needed")
    by_email = vote(client, email["id"], people.resident(3), option_ids(email)[:1])
    assert by_email.status_code == 409 and by_email.json["type"].endswith(":wrong-voting-method")
    assert vote(client, account["id"], {}, option_ids(account)[:1]).status_code == 401


def test_one_phone_one_vote_across_accounts(client, people, polls_app):
    poll = new_poll(client, people, method="account+phone")
    choice = option_ids(poll)[:1]
    assert (
        vote(client, poll["id"], people.resident(1, phone_hash="same"), choice).status_code == 201
    )
    second = vote(client, poll["id"], people.resident(2, phone_hash="same"), choice)
    assert second.status_code == 409
    fold(polls_app)
    assert results(client, poll["id"]).json["voters"] == 1


def test_one_mailbox_one_vote_across_accounts(client, people, polls_app):
    """Accounts of one mailbox (ann+a@…, ann+b@…) carry one email hash: one ballot, even
    where the last vote counts (the second account has no ballot of its own to change)."""
    poll = new_poll(client, people, method="account", allow_change=True)
    choice = option_ids(poll)[:1]
    first = vote(client, poll["id"], people.resident(1, email_hash="same"), choice)
    assert first.status_code == 201
    second = vote(client, poll["id"], people.resident(2, email_hash="same"), choice)
    assert second.status_code == 409
    assert second.json["detail"] == "Someone with this email address has voted already."
    # A token that does not say which mailbox (issued before auth said it) cannot vote.
    unknown = vote(client, poll["id"], people.resident(3, email_hash=None), choice)
    assert unknown.status_code == 403
    fold(polls_app)
    assert results(client, poll["id"]).json["voters"] == 1


def test_a_closed_or_draft_poll_takes_no_votes(client, people):
    draft = new_poll(client, people, method="account", publish=False)
    assert vote(client, draft["id"], people.resident(), option_ids(draft)[:1]).status_code == 404
    poll = new_poll(client, people, method="account")
    client.post(f"/api/polls/polls/{poll['id']}/close", headers=people.moderator())
    closed = vote(client, poll["id"], people.resident(), option_ids(poll)[:1])
    assert closed.status_code == 409 and closed.json["type"].endswith(":wrong-state")
    assert vote(client, 424242, people.resident(), [1]).status_code == 404


def test_forged_tokens_vote_nowhere(client, people, auth_app, polls_app):
    from tests.support.tokens import forged_tokens

    poll = new_poll(client, people, method="account")
    for name, token in forged_tokens(auth_app).items():
        response = vote(
            client, poll["id"], {"Authorization": f"Bearer {token}"}, option_ids(poll)[:1]
        )
        assert response.status_code == 401, name
    assert fold(polls_app) == 0
