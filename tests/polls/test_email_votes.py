"""Votes confirmed by email: pending until the link's POST, counted once per address."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.common.client import ServiceUnavailable
from services.common.hashing import mailbox
from services.common.timeutil import utcnow
from services.polls import tallies, voting, widget
from services.polls.lifecycle import published_poll
from services.polls.models import Ballot, PendingVote
from services.polls.models import db as polls_db
from services.polls.voting import expire_pending
from tests.auth.helpers import messages, page_form
from tests.polls.conftest import (
    confirm_in_browser,
    confirmation_token,
    fold,
    new_poll,
    option_ids,
    request_email_vote,
)

pytestmark = pytest.mark.usefixtures("councils")


def voters(client, polls_app, poll_id) -> int:
    """The poll's voters once everything that settled is folded in."""
    fold(polls_app)
    return client.get(f"/api/polls/polls/{poll_id}/results").json["voters"]


def test_the_seed_flow_vote_confirm_thank_you(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    choice = option_ids(poll)[2]
    asked = request_email_vote(client, poll["id"], [choice], locale="uk")
    assert asked.status_code == 202 and len(asked.json["pending_id"]) >= 40
    assert voters(client, polls_app, poll["id"]) == 0  # pending counts nowhere

    [email] = messages(auth_app, "voter@example.org", "confirm_for_service")
    assert email.recipient == "voter@example.org" and email.locale == "uk"
    token = confirmation_token(auth_app)

    # A mail scanner fetching the link confirms nothing.
    page = client.get(f"/api/auth/verify?token={token}")
    assert page.status_code == 200
    assert poll["question"] in page.get_data(as_text=True)
    assert "Telegram" in page.get_data(as_text=True)
    assert voters(client, polls_app, poll["id"]) == 0

    thanks = confirm_in_browser(client, token)
    assert thanks.status_code == 200
    body = thanks.get_data(as_text=True)
    assert "Дякуємо! Ваш голос враховано." in body  # the seed's "Thank you! Your vote was counted"
    assert voters(client, polls_app, poll["id"]) == 1
    counted = client.get(f"/api/polls/polls/{poll['id']}/results").json["options"]
    assert {o["id"]: o["votes"] for o in counted}[choice] == 1

    # The same link again: its button is refused, with the receipt; nothing changes.
    again = confirm_in_browser(client, token)
    assert again.status_code == 409 and "уже підтверджено" in again.get_data(as_text=True)
    assert voters(client, polls_app, poll["id"]) == 1


def test_a_link_pressed_the_moment_its_email_is_queued_finds_the_vote(
    client, people, auth_app, polls_app, monkeypatch
):
    """Once auth has queued the email, the voter may press its link before polls has
    answered them (a busy moment here, a quick reader there): the vote is already
    waiting for it, and counts."""
    poll = new_poll(client, people, language="en")
    pressed = []
    ask_auth = voting._ask_auth_to_verify

    def voter_quicker_than_polls(request):
        answer = ask_auth(request)
        # The voter's browser, while polls has yet to hear auth's answer.
        presser = threading.Thread(
            target=lambda: pressed.append(confirm_in_browser(client, confirmation_token(auth_app)))
        )
        presser.start()
        presser.join()
        return answer

    monkeypatch.setattr(voting, "_ask_auth_to_verify", voter_quicker_than_polls)
    assert request_email_vote(client, poll["id"], option_ids(poll)[:1]).status_code == 202
    [thanks] = pressed
    assert thanks.status_code == 200, thanks.get_data(as_text=True)
    assert "Thank you! Your vote was counted." in thanks.get_data(as_text=True)
    assert voters(client, polls_app, poll["id"]) == 1


@pytest.mark.parametrize(
    ("visibility", "shown"), [("always", True), ("after_vote", True), ("after_close", False)]
)
def test_the_thank_you_page_shows_results_with_the_vote_unless_kept_until_close(
    client, people, auth_app, visibility, shown
):
    poll = new_poll(client, people, results_visibility=visibility, language="en")
    choice = option_ids(poll)[1]
    request_email_vote(client, poll["id"], [choice], locale="en")
    body = confirm_in_browser(client, confirmation_token(auth_app)).get_data(as_text=True)
    assert "Thank you! Your vote was counted." in body
    # The voter's own vote is in what they are shown: one voter, all for their answer.
    assert ("1 voter" in body and "1 vote (100%)" in body) is shown
    assert ('id="results-title"' in body) is shown


def test_the_voter_is_answered_in_their_own_language_not_the_polls(client, people, auth_app):
    """A Ukrainian poll voted in English: the email, the link's page, the thanks and a
    refusal all speak English (the link's page tells polls its language)."""
    poll = new_poll(client, people, language="uk")
    choice = option_ids(poll)[0]
    for attempt in ("counted", "refused"):
        request_email_vote(client, poll["id"], [choice], locale="en")
        answer = confirm_in_browser(client, confirmation_token(auth_app))
        body = answer.get_data(as_text=True)
        assert '<html lang="en">' in body, attempt
        if attempt == "counted":
            assert answer.status_code == 200 and "Thank you! Your vote was counted." in body
        else:
            assert answer.status_code == 409 and "was counted already" in body


def test_a_used_vote_link_leads_back_to_the_poll(client, people, auth_app, polls_app):
    """Opened again once the vote is in (and polls has told auth), the link's page says
    it was used, in the voter's language, with the way to the poll: not a dead end."""
    poll = new_poll(client, people)
    request_email_vote(client, poll["id"], [option_ids(poll)[0]], locale="en")
    token = confirmation_token(auth_app)
    assert confirm_in_browser(client, token).status_code == 200
    with polls_app.app_context():
        assert voting.tell_auth_links_used() >= 1  # and whatever other tests left
    again = client.get(f"/api/auth/verify?token={token}")
    assert again.status_code == 400 and '<html lang="en">' in again.text
    assert "This link has been used already." in again.text
    public_url = polls_app.config["PUBLIC_URL"]
    assert f'<a href="{public_url}/polls/{poll["id"]}">Open the poll</a>' in again.text


def test_a_second_vote_from_the_same_address_is_refused(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    first, second = option_ids(poll)[:2]
    assert request_email_vote(client, poll["id"], [first], locale="uk").status_code == 202
    assert confirm_in_browser(client, confirmation_token(auth_app)).status_code == 200
    # The same person, the address written differently.
    again = request_email_vote(client, poll["id"], [second], email="Voter@Example.org", locale="uk")
    assert again.status_code == 202
    refused = confirm_in_browser(client, confirmation_token(auth_app))
    assert refused.status_code == 409
    assert "вже" in refused.get_data(as_text=True)  # "…was counted already", in Ukrainian
    assert voters(client, polls_app, poll["id"]) == 1


@pytest.mark.parametrize(
    "first, second",
    [
        ("voter@example.org", "voter+again@example.org"),  # sub-addressing
        ("voter@gmail.com", "v.o.t.e.r@googlemail.com"),  # Gmail ignores dots; two names
    ],
)
def test_one_mailbox_votes_once_however_its_address_is_written(
    client, people, auth_app, polls_app, first, second
):
    poll = new_poll(client, people)
    choice = option_ids(poll)[:1]
    assert request_email_vote(client, poll["id"], choice, email=first).status_code == 202
    assert confirm_in_browser(client, confirmation_token(auth_app, first)).status_code == 200
    assert request_email_vote(client, poll["id"], choice, email=second).status_code == 202
    refused = confirm_in_browser(client, confirmation_token(auth_app, second))
    assert refused.status_code == 409
    assert voters(client, polls_app, poll["id"]) == 1


def test_a_mailbox_is_its_address_without_tag_or_ignored_dots():
    assert mailbox("olena.k+polls@ukr.net") == "olena.k@ukr.net"
    assert mailbox("o.l.e.n.a+x@googlemail.com") == "olena@gmail.com"
    assert mailbox("+only@example.org") == "+only@example.org"  # nothing but a tag: kept


def test_a_changed_vote_by_email_where_allowed(client, people, auth_app, polls_app):
    poll = new_poll(client, people, allow_change=True)
    first, second = option_ids(poll)[:2]
    request_email_vote(client, poll["id"], [first])
    confirm_in_browser(client, confirmation_token(auth_app))
    request_email_vote(client, poll["id"], [second])
    assert confirm_in_browser(client, confirmation_token(auth_app)).status_code == 200
    fold(polls_app)
    data = client.get(f"/api/polls/polls/{poll['id']}/results").json
    assert data["voters"] == 1
    assert {o["id"]: o["votes"] for o in data["options"]}[second] == 1
    assert {o["id"]: o["votes"] for o in data["options"]}[first] == 0


def test_the_proof_cannot_be_replayed_or_forged(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    request_email_vote(client, poll["id"], option_ids(poll)[:1])
    page = client.get(f"/api/auth/verify?token={confirmation_token(auth_app)}")
    action, fields = page_form(page.get_data(as_text=True))
    assert action == "/api/polls/votes/confirm"
    assert voters(client, polls_app, poll["id"]) == 0  # the page's proof does nothing by itself
    assert client.post(action, data=fields).status_code == 200
    replay = client.post(action, data=fields)
    assert replay.status_code == 409
    assert voters(client, polls_app, poll["id"]) == 1
    for bad in ("", "nonsense", fields["proof"][:-5] + "AAAAA"):
        assert client.post(action, data={"proof": bad}).status_code == 400
    # No proof is taken from a URL (nor so from an access log), good or bad.
    assert client.get(f"{action}?proof={fields['proof']}").status_code == 405
    assert voters(client, polls_app, poll["id"]) == 1


def test_auth_hears_which_links_were_used_and_their_pages_say_so(
    client, people, auth_app, polls_app, monkeypatch
):
    poll = new_poll(client, people)
    request_email_vote(client, poll["id"], option_ids(poll)[:1])
    counted = confirmation_token(auth_app)
    assert confirm_in_browser(client, counted).status_code == 200
    request_email_vote(client, poll["id"], option_ids(poll)[:1], email="Voter@example.org")
    refused = confirmation_token(auth_app)
    assert confirm_in_browser(client, refused).status_code == 409  # the same mailbox
    # Until auth hears of them, their pages offer the button (polls refuses a second press).
    assert client.get(f"/api/auth/verify?token={counted}").status_code == 200

    def unreachable(*args, **kwargs):
        raise ServiceUnavailable("auth is down")

    with polls_app.app_context():
        monkeypatch.setattr(voting, "call_service", unreachable)
        assert voting.tell_auth_links_used() == 0  # kept for the next run
        monkeypatch.undo()
        assert voting.tell_auth_links_used() >= 2
        assert voting.tell_auth_links_used() == 0
    for token in (counted, refused):
        assert client.get(f"/api/auth/verify?token={token}").status_code == 400
    assert voters(client, polls_app, poll["id"]) == 1


def test_a_page_opened_before_pages_carried_the_proof_still_confirms_once(
    client, people, auth_app, polls_app
):
    """Its form POSTs the link's token to auth, which shows the link's page again, now
    with the proof: pressing Confirm there counts the vote."""
    poll = new_poll(client, people, language="en")
    request_email_vote(client, poll["id"], option_ids(poll)[:1])
    token = confirmation_token(auth_app)
    pressed = client.post("/api/auth/verify/form", data={"token": token})
    assert pressed.status_code == 303
    assert voters(client, polls_app, poll["id"]) == 0
    again = client.get(pressed.headers["Location"])
    action, fields = page_form(again.get_data(as_text=True))
    thanks = client.post(action, data=fields)
    assert thanks.status_code == 200
    assert "Thank you! Your vote was counted." in thanks.get_data(as_text=True)
    assert client.post(action, data=fields).status_code == 409
    assert voters(client, polls_app, poll["id"]) == 1


def test_a_proof_naming_no_poll_is_refused_in_the_visitors_language(client):
    for language, lang_attribute in (("en", 'lang="en"'), ("hu-HU,hu;q=0.9", 'lang="hu"')):
        page = client.post(
            "/api/polls/votes/confirm",
            data={"proof": "nonsense"},
            headers={"Accept-Language": language},
        )
        assert page.status_code == 400 and lang_attribute in page.get_data(as_text=True)


def test_cancelling_a_pending_vote_kills_its_link(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    pending = request_email_vote(client, poll["id"], option_ids(poll)[:1]).json["pending_id"]
    token = confirmation_token(auth_app)
    assert client.post(f"/api/polls/pending-votes/{pending}/cancel").status_code == 204
    assert client.post(f"/api/polls/pending-votes/{pending}/cancel").status_code == 404
    assert client.post("/api/polls/pending-votes/guessed-id/cancel").status_code == 404
    # auth was told: the link's page no longer offers a button.
    assert client.get(f"/api/auth/verify?token={token}").status_code == 400
    assert voters(client, polls_app, poll["id"]) == 0


def test_an_expired_pending_vote_is_not_counted(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    request_email_vote(client, poll["id"], option_ids(poll)[:1])
    token = confirmation_token(auth_app)
    with polls_app.app_context():
        polls_db.session.execute(
            update(PendingVote).values(expires_at=utcnow() - timedelta(minutes=1))
        )
        polls_db.session.commit()
        polls_db.session.remove()
    assert confirm_in_browser(client, token).status_code == 410
    with polls_app.app_context():
        assert expire_pending(polls_db.session) == 1
        polls_db.session.remove()
    assert voters(client, polls_app, poll["id"]) == 0


def test_a_poll_closed_before_confirmation_counts_nothing(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    request_email_vote(client, poll["id"], option_ids(poll)[:1])
    client.post(f"/api/polls/polls/{poll['id']}/close", headers=people.moderator())
    assert confirm_in_browser(client, confirmation_token(auth_app)).status_code == 409
    assert voters(client, polls_app, poll["id"]) == 0


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"email": "not-an-address", "choices": None}, 422, "email"),
        ({"email": "x@mailinator.com", "choices": None}, 422, "email"),
        ({"email": "voter@example.org", "choices": [987654]}, 422, "choices"),
        ({"email": "voter@example.org", "choices": []}, 422, "choices"),
        ({"email": "voter@example.org"}, 422, "choices"),
    ],
)
def test_bad_email_votes_change_nothing(client, people, auth_app, body, status, field):
    poll = new_poll(client, people)
    if body.get("choices", "") is None:
        body["choices"] = option_ids(poll)[:1]
    response = client.post(f"/api/polls/polls/{poll['id']}/email-votes", json=body)
    assert response.status_code == status and field in response.json["errors"], response.json
    assert messages(auth_app, body["email"]) == []


def test_disposable_addresses_pass_where_the_council_allows_them(client, people, auth_app):
    poll = new_poll(client, people)
    allowed = client.put(
        "/api/polls/councils/kyiv/policy",
        json={"block_disposable_email": False},
        headers=people.admin("kyiv"),
    )
    assert allowed.status_code == 200
    assert (
        request_email_vote(
            client, poll["id"], option_ids(poll)[:1], email="x@mailinator.com"
        ).status_code
        == 202
    )


def test_email_polls_only_by_email_and_account_polls_not_by_email(client, people):
    poll = new_poll(client, people, method="account")
    refused = request_email_vote(client, poll["id"], option_ids(poll)[:1])
    assert refused.status_code == 409 and refused.json["type"].endswith(":wrong-voting-method")


def test_vote_requests_are_limited_per_address(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    choice = option_ids(poll)[:1]
    for _ in range(5):
        assert request_email_vote(client, poll["id"], choice).status_code == 202
    limited = request_email_vote(client, poll["id"], choice, email="VOTER@example.org")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    with polls_app.app_context():  # the refused vote has no link, and is not kept
        assert polls_db.session.query(PendingVote).count() == 5
        polls_db.session.remove()
    tagged = request_email_vote(client, poll["id"], choice, email="voter+1@example.org")
    assert tagged.status_code == 429  # the same mailbox
    assert len(messages(auth_app, "voter@example.org", "confirm_for_service")) == 5
    # Someone else is not held back by it.
    assert (
        request_email_vote(client, poll["id"], choice, email="other@example.org").status_code == 202
    )


def test_vote_requests_are_limited_per_client(client, people):
    poll = new_poll(client, people)
    choice = option_ids(poll)[:1]
    answers = [
        request_email_vote(client, poll["id"], choice, email=f"v{n}@example.org").status_code
        for n in range(61)
    ]
    assert answers[:60] == [202] * 60 and answers[60] == 429


def verification_request(email: str, locale: str = "uk") -> dict:
    """What polls asks auth for a vote by email (as request_email_vote builds it)."""
    return {
        "email": email,
        "purpose": "poll-vote:1",
        "subject": f"pending-{email}",
        "locale": locale,
        "return_url": "http://127.0.0.1:8000/api/polls/votes/confirm",
        "context": {"question": "?", "choice": "Telegram"},
    }


def test_requests_handed_to_auth_together_are_answered_each_on_its_own(auth_app, polls_app):
    """A voter over auth's limit is refused alone; the others asking with them are not."""
    with polls_app.test_request_context("/"):
        for _ in range(5):
            assert voting._ask_alone(verification_request("flooded@example.org")).status == 202
        answers = voting._ask_together(
            [
                verification_request("first@example.org"),
                verification_request("flooded@example.org", locale="en"),
                verification_request("second@example.org"),
            ]
        )
    assert [answer.status for answer in answers] == [202, 429, 202]
    assert answers[0].body["id"] != answers[2].body["id"]
    assert answers[1].body["retry_after"] == 3600
    assert answers[1].body["detail"].startswith("Too many confirmations")
    for email in ("first@example.org", "second@example.org"):
        assert len(messages(auth_app, email, "confirm_for_service")) == 1
    assert len(messages(auth_app, "flooded@example.org", "confirm_for_service")) == 5


def test_a_batch_auth_will_not_take_is_asked_again_request_by_request(auth_app, polls_app):
    good, bad = verification_request("good@example.org"), verification_request("bad", "xx")
    with polls_app.test_request_context("/"):
        assert voting._ask_together([good, bad]) == [voting._ASK_ALONE] * 2
        assert messages(auth_app, "good@example.org", "confirm_for_service") == []
        assert voting._ask_alone(good).status == 202
        assert voting._ask_alone(bad).status == 422


def test_auth_unreachable_for_a_batch_is_every_voters_503(client, people, polls_app, monkeypatch):
    poll = new_poll(client, people)

    def unreachable(*args, **kwargs):
        raise ServiceUnavailable("auth is down")

    monkeypatch.setattr(voting, "call_service", unreachable)
    with polls_app.test_request_context("/"):
        requests = [verification_request(f"v{n}@example.org") for n in range(3)]
        assert voting._ask_together(requests) == [None] * 3
    refused = request_email_vote(client, poll["id"], option_ids(poll)[:1])
    assert refused.status_code == 503
    # Unanswered is not refused: the pending vote waits (counting nowhere) in case the
    # email did go out, and expires if it did not.
    with polls_app.app_context():
        assert [p.status for p in polls_db.session.query(PendingVote)] == ["pending"]
    assert voters(client, polls_app, poll["id"]) == 0


def test_an_email_queued_when_auths_answer_is_lost_still_counts(
    client, people, auth_app, polls_app, monkeypatch
):
    """Auth queues the email, but its answer never reaches polls (a timeout under load,
    a dropped connection): the voter is told polls cannot say whether it was sent, and
    the link that then arrives finds the vote and counts it."""
    poll = new_poll(client, people, language="en")
    call_auth = voting.call_service

    def answer_lost(*args, **kwargs):
        call_auth(*args, **kwargs)  # auth does the work
        raise ServiceUnavailable("the answer timed out")

    monkeypatch.setattr(voting, "call_service", answer_lost)
    unanswered = request_email_vote(client, poll["id"], option_ids(poll)[:1])
    assert unanswered.status_code == 503
    assert "could not tell whether" in unanswered.json["detail"]
    monkeypatch.undo()
    thanks = confirm_in_browser(client, confirmation_token(auth_app))
    assert thanks.status_code == 200, thanks.get_data(as_text=True)
    assert "Thank you! Your vote was counted." in thanks.get_data(as_text=True)
    assert voters(client, polls_app, poll["id"]) == 1


def test_a_vote_auth_refuses_to_email_is_not_kept(client, people, polls_app, monkeypatch):
    """A refusal is an answer: no email was queued, so nothing of the vote is kept."""
    poll = new_poll(client, people)
    monkeypatch.setattr(voting, "_ask_auth_to_verify", lambda request: voting.AuthAnswer(422, {}))
    assert request_email_vote(client, poll["id"], option_ids(poll)[:1]).status_code == 503
    with polls_app.app_context():
        assert polls_db.session.query(PendingVote).count() == 0


def test_a_new_ballots_page_counts_it_once_folded_or_not(
    client, people, auth_app, polls_app, monkeypatch
):
    """Its thank-you page adds the new ballot to the folded tallies it read (at most once
    per FOLDED_KEPT_SECONDS) unless that read holds it already."""
    poll = new_poll(client, people, language="en")
    first, second = option_ids(poll)[:2]

    def vote(email: str, choice: int) -> str:
        request_email_vote(client, poll["id"], [choice], email=email)
        body = confirm_in_browser(client, confirmation_token(auth_app, email)).get_data(
            as_text=True
        )
        assert "Thank you! Your vote was counted." in body
        return body

    monkeypatch.setattr(tallies, "FOLDED_KEPT_SECONDS", 0)  # every page reads again
    assert "1 voter" in vote("a@example.org", first)
    fold(polls_app)
    assert "2 voters" in vote("b@example.org", second)  # a folded, b not yet
    fold(polls_app)
    with polls_app.app_context():
        published = published_poll(polls_db.session, poll["id"])
        ballots = dict(polls_db.session.execute(select(Ballot.id, Ballot.first_choices)).all())
        newest = max(ballots)

        def shown(kept_seconds: float) -> tuple[int, dict]:
            monkeypatch.setattr(tallies, "FOLDED_KEPT_SECONDS", kept_seconds)
            results = tallies.results_with_new_ballot(
                polls_db.session, published, newest, ballots[newest]
            )
            return results["voters"], {o["id"]: o["votes"] for o in results["options"]}

        # Read after the fold that holds it: counted once, not twice.
        assert shown(0) == (2, {first: 1, second: 1, **dict.fromkeys(option_ids(poll)[2:], 0)})
        # And so from the kept read, while it is kept.
        assert shown(60) == shown(0)
        polls_db.session.remove()
    tallies.forget_folded_reads()
    assert voters(client, polls_app, poll["id"]) == 2


def test_the_counted_page_rendered_once_around_its_receipt_is_the_page_rendered_whole(
    client, people, polls_app
):
    poll = new_poll(client, people, language="uk")
    with polls_app.app_context():
        published = published_poll(polls_db.session, poll["id"])
        polls_db.session.remove()
    options = option_ids(poll)
    results = tallies.results_of(published, "open", False, 3, {options[0]: 2, options[1]: 1})
    pages = []
    for receipt, language in (("r3ce1pt", "uk"), ('<"&>', "uk"), ("r3ce1pt", "hu")):
        counted = voting.CountedVote(receipt)
        with polls_app.test_request_context(
            "/api/polls/votes/confirm", method="POST", data={"lang": language}
        ):
            whole = widget._page(
                "polls/message.html", published, ok=True, receipt=receipt, results=results
            ).get_data(as_text=True)
            for shown in (results, results, None):  # the second from the kept rendering
                page = widget._counted_page(published, counted, shown, language)
                if shown is not None:
                    assert page == whole
            pages.append(whole)
    assert "&lt;&#34;&amp;&gt;" in pages[1] and 'lang="hu"' in pages[2]
    assert len(set(pages)) == 3 and "2 голоси (66,7%)" in pages[0]
