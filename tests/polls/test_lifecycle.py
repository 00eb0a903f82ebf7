"""A poll's life: who may create and move it, what each state allows, and the clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.timeutil import utcnow
from services.common.tokens import Principal
from services.polls.errors import InvalidPoll
from services.polls.lifecycle import advance_by_clock, create_poll
from services.polls.models import Poll
from services.polls.models import db as polls_db
from tests.polls.conftest import OPTIONS, QUESTION, new_poll, option_ids, shift_poll

pytestmark = pytest.mark.usefixtures("councils")


def test_a_moderator_creates_edits_publishes_closes_and_archives(client, people):
    moderator = people.moderator("kyiv")
    draft = new_poll(client, people, publish=False, max_choices=2, method="account")
    assert draft["state"] == "draft" and [o["label"] for o in draft["options"]] == OPTIONS
    poll_id = draft["id"]

    # Nobody else sees a draft.
    assert client.get(f"/api/polls/polls/{poll_id}").status_code == 404
    assert client.get(f"/api/polls/polls/{poll_id}", headers=people.resident()).status_code == 404
    seen = client.get(f"/api/polls/polls/{poll_id}", headers=moderator)
    assert seen.status_code == 200
    drafts = client.get("/api/polls/polls?council=kyiv&state=draft", headers=moderator)
    assert [p["id"] for p in drafts.json["polls"]] == [poll_id]
    assert client.get("/api/polls/polls?council=kyiv&state=draft").status_code == 403

    edited = client.patch(
        f"/api/polls/polls/{poll_id}",
        json={"question": "Де ви читаєте новини громади?", "options": ["Сайт", "Радіо"]},
        headers=moderator,
    )
    assert edited.status_code == 200 and len(edited.json["options"]) == 2

    opened = client.post(f"/api/polls/polls/{poll_id}/publish", headers=moderator)
    assert opened.status_code == 200 and opened.json["state"] == "open"
    assert client.get(f"/api/polls/polls/{poll_id}").json["state"] == "open"
    # A published poll is no longer edited: its voters saw these options.
    refused = client.patch(
        f"/api/polls/polls/{poll_id}", json={"question": "Інше питання?"}, headers=moderator
    )
    assert refused.status_code == 409 and refused.json["type"].endswith(":wrong-state")
    assert client.post(f"/api/polls/polls/{poll_id}/publish", headers=moderator).status_code == 409
    assert client.post(f"/api/polls/polls/{poll_id}/archive", headers=moderator).status_code == 409

    closed = client.post(f"/api/polls/polls/{poll_id}/close", headers=moderator)
    assert closed.status_code == 200 and closed.json["state"] == "closed"
    assert client.post(f"/api/polls/polls/{poll_id}/close", headers=moderator).status_code == 409
    archived = client.post(f"/api/polls/polls/{poll_id}/archive", headers=moderator)
    assert archived.status_code == 200 and archived.json["state"] == "archived"
    listed = client.get("/api/polls/polls?council=kyiv").json["polls"]
    assert [p["id"] for p in listed] == [poll_id]


def test_only_the_councils_own_people_run_its_polls(client, people):
    poll = new_poll(client, people, publish=False)
    outsiders = {
        "resident": people.resident(),
        "moderator of another council": people.moderator("oliivka"),
        "admin of another council": people.admin("oliivka"),
    }
    for who, headers in outsiders.items():
        created = client.post(
            "/api/polls/polls",
            json={"council": "kyiv", "question": QUESTION, "options": OPTIONS},
            headers=headers,
        )
        assert created.status_code == 403, who
        for action in ("publish", "close", "archive"):
            moved = client.post(f"/api/polls/polls/{poll['id']}/{action}", headers=headers)
            assert moved.status_code in (403, 404), (who, action)
        assert client.delete(f"/api/polls/polls/{poll['id']}", headers=headers).status_code in (
            403,
            404,
        )
        assert client.get(f"/api/polls/polls/{poll['id']}/embed", headers=headers).status_code in (
            403,
            404,
        )
    assert (
        client.post(
            "/api/polls/polls", json={"council": "kyiv", "question": QUESTION, "options": OPTIONS}
        ).status_code
        == 401
    )
    # Still a draft, untouched.
    seen = client.get(f"/api/polls/polls/{poll['id']}", headers=people.moderator("kyiv"))
    assert seen.json["state"] == "draft" and seen.json["question"] == QUESTION


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"options": ["Лише одна"]}, "options"),
        ({"options": [f"Варіант {n}" for n in range(31)]}, "options"),
        ({"options": ["Так", " так "]}, "options"),
        ({"options": ["Так", "  "]}, "options"),
        ({"max_choices": 5}, "max_choices"),
        ({"question": "Ну?"}, "question"),
        ({"method": "carrier-pigeon"}, "method"),
        (
            {"opens_at": "2030-01-02T10:00:00+02:00", "closes_at": "2030-01-01T10:00:00+02:00"},
            "closes_at",
        ),
        ({"closes_at": "2030-01-01T10:00:00"}, "closes_at"),
    ],
)
def test_invalid_polls_are_refused_field_by_field(client, people, polls_app, changes, field):
    body = {"council": "kyiv", "question": QUESTION, "options": OPTIONS, **changes}
    response = client.post("/api/polls/polls", json=body, headers=people.moderator())
    assert response.status_code == 422, response.json
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in response.json["errors"]
    with polls_app.app_context():
        assert polls_db.session.query(Poll).count() == 0
        polls_db.session.remove()


def test_an_unknown_council_is_refused(client, people):
    body = {"council": "atlantis", "question": QUESTION, "options": OPTIONS}
    response = client.post("/api/polls/polls", json=body, headers=people.moderator("atlantis"))
    assert response.status_code == 422 and response.json["type"].endswith(":unknown-council")
    for service in ("polls", "petitions"):  # no rules are shown for a council that is not
        assert client.get(f"/api/{service}/councils/atlantis/policy").status_code == 404
        assert client.get(f"/api/{service}/councils/kyiv/policy").status_code == 200


def test_a_scheduled_poll_opens_and_closes_by_the_clock(client, people, polls_app):
    opens = utcnow() + timedelta(hours=1)
    poll = new_poll(
        client,
        people,
        method="account",
        opens_at=opens.isoformat(),
        closes_at=(opens + timedelta(days=1)).isoformat(),
    )
    assert poll["state"] == "scheduled"
    vote = {"choices": option_ids(poll)[:1]}
    early = client.post(
        f"/api/polls/polls/{poll['id']}/votes", json=vote, headers=people.resident()
    )
    assert early.status_code == 409 and early.json["type"].endswith(":wrong-state")

    shift_poll(polls_app, poll["id"], opens_at=utcnow() - timedelta(minutes=1))
    assert client.get(f"/api/polls/polls/{poll['id']}").json["state"] == "open"
    on_time = client.post(
        f"/api/polls/polls/{poll['id']}/votes", json=vote, headers=people.resident()
    )
    assert on_time.status_code == 201

    shift_poll(polls_app, poll["id"], closes_at=utcnow() - timedelta(seconds=1))
    late = client.post(
        f"/api/polls/polls/{poll['id']}/votes", json=vote, headers=people.resident(2)
    )
    assert late.status_code == 409
    with polls_app.app_context():
        assert advance_by_clock(polls_db.session) == 1
        stored = polls_db.session.get(Poll, poll["id"])
        assert stored.state == "closed" and stored.closed_at is not None
        polls_db.session.remove()


def test_a_draft_can_be_deleted_a_published_poll_cannot(client, people):
    moderator = people.moderator()
    draft = new_poll(client, people, publish=False)
    assert client.delete(f"/api/polls/polls/{draft['id']}", headers=moderator).status_code == 204
    assert client.get(f"/api/polls/polls/{draft['id']}", headers=moderator).status_code == 404
    published = new_poll(client, people)
    assert (
        client.delete(f"/api/polls/polls/{published['id']}", headers=moderator).status_code == 409
    )


def test_publishing_after_the_closing_time_is_refused(client, people):
    poll = new_poll(client, people, publish=False)
    client.patch(
        f"/api/polls/polls/{poll['id']}",
        json={"closes_at": (utcnow() - timedelta(hours=1)).isoformat()},
        headers=people.moderator(),
    )
    refused = client.post(f"/api/polls/polls/{poll['id']}/publish", headers=people.moderator())
    assert refused.status_code == 422 and "closes_at" in refused.json["errors"]


def test_a_length_refused_says_what_it_counts(client, people):
    """Characters of a text, answers of a list: "Give from 5 to 300." said neither."""
    body = {"council": "kyiv", "question": "Ну?", "options": ["Так"]}
    english = client.post("/api/polls/polls?lang=en", json=body, headers=people.moderator())
    assert english.json["errors"]["question"] == ["Give from 5 to 300 characters."]
    assert english.json["errors"]["options"] == ["Give from 2 to 30 answers."]
    body = {**body, "question": QUESTION, "options": ["Так", "Н" * 201]}
    long = client.post("/api/polls/polls?lang=uk", json=body, headers=people.moderator())
    assert long.json["errors"]["options.1"] == ["Кількість символів — від 1 до 200."]
    policy = {"widget_origins": [f"https://s{n}.example" for n in range(21)]}
    many = client.put(
        "/api/polls/councils/kyiv/policy?lang=en", json=policy, headers=people.admin()
    )
    assert many.json["errors"]["widget_origins"] == ["Give at most 20 entries."]


def test_a_poll_made_without_the_api_counts_answers_in_the_apis_words(polls_app):
    """A script that calls lifecycle hears what the API would have said."""
    admin = Principal("1", platform_admin=True)
    data = {"council": "kyiv", "question": QUESTION, "options": ["Так"]}
    with polls_app.test_request_context("/?lang=en"), pytest.raises(InvalidPoll) as refused:
        create_poll(polls_db.session, admin, data)
    assert refused.value.errors == {"options": ["Give from 2 to 30 answers."]}


ONE_LINE = "Write one line, without line breaks or invisible control characters."


def test_a_question_and_its_answers_read_as_they_are_written(client, people, polls_app):
    """A bidirectional override shows "Так txt.exe" as "Так exe.txt"; a line break writes
    a paragraph of its own. Either is refused, and nothing is made."""
    moderator = people.moderator()
    for body, field in (
        ({"question": "Ставимо \u202eліхтарі?\u202c", "options": OPTIONS}, "question"),
        ({"question": "Ставимо ліхтарі?\nТак!", "options": OPTIONS}, "question"),
        ({"question": QUESTION, "options": ["Так", "Ні \u2067(для всіх)\u2069"]}, "options.1"),
        ({"question": QUESTION, "options": ["\u202aТак", "Ні"]}, "options.0"),
    ):
        made = client.post(
            "/api/polls/polls?lang=en", json={"council": "kyiv", **body}, headers=moderator
        )
        assert made.status_code == 422 and made.mimetype == "application/problem+json"
        assert made.json["errors"] == {field: [ONE_LINE]}, body
    with polls_app.app_context():
        assert polls_db.session.query(Poll).count() == 0
    draft = new_poll(client, people, publish=False)
    for change in ({"question": "Ставимо \u2066ліхтарі?"}, {"options": ["Так", "\u202dНі"]}):
        edited = client.patch(f"/api/polls/polls/{draft['id']}", json=change, headers=moderator)
        assert edited.status_code == 422, change
    kept = client.get(f"/api/polls/polls/{draft['id']}", headers=moderator).json
    assert kept["question"] == QUESTION and [o["label"] for o in kept["options"]] == OPTIONS
