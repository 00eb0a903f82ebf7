"""Every transition, its refusal from the wrong state, and who may make it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from services.common.timeutil import utcnow
from services.petitions.counts import fold_new_signatures
from services.petitions.lifecycle import add_working_days, close_expired
from services.petitions.models import Petition, Signature, db
from tests.conftest import TEST_DB
from tests.petitions.conftest import (
    TEXT,
    make_due_date_pass,
    open_petition,
    submitted_petition,
)
from tests.support.concurrency import as_processes_at_once, failures

API = "/api/petitions"
KYIV = ZoneInfo("Europe/Kyiv")  # the test councils' zone


def file(client, people, council="kyiv", **claims):
    return client.post(
        f"{API}/petitions",
        json={"council": council, "title": "Більше лавок", "text": TEXT},
        headers=people.resident(100, **claims),
    )


def test_a_petition_from_draft_to_answer(client, people, councils, petitions_app):
    created = file(client, people)
    assert created.status_code == 201 and created.json["state"] == "draft"
    petition_id = created.json["id"]
    author = people.resident(100)
    # A draft is the author's: nobody else sees it.
    assert client.get(f"{API}/petitions/{petition_id}").status_code == 404
    assert (
        client.patch(
            f"{API}/petitions/{petition_id}", json={"title": "Більше лавок у парку"}, headers=author
        ).json["title"]
        == "Більше лавок у парку"
    )
    assert (
        client.post(f"{API}/petitions/{petition_id}/submit", headers=author).json["state"]
        == "moderation"
    )
    queue = client.get(f"{API}/councils/kyiv/moderation", headers=people.moderator()).json
    assert [p["id"] for p in queue["petitions"]] == [petition_id]
    client.put(f"{API}/councils/kyiv/policy", json={"threshold": 2}, headers=people.admin())
    opened = client.post(f"{API}/petitions/{petition_id}/approve", headers=people.moderator())
    assert opened.json["state"] == "open" and opened.json["threshold"] == 2
    for n in (1, 2):
        signed = client.post(
            f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(n)
        )
        assert signed.status_code == 201 and len(signed.json["receipt"]) == 24
    with petitions_app.app_context(), _settled():
        assert fold_new_signatures(db.session) == 2
    public = client.get(f"{API}/petitions/{petition_id}").json
    assert public["state"] == "successful" and public["signatures"] == 2
    answered = client.post(
        f"{API}/petitions/{petition_id}/response",
        json={"text": "Рада погоджується: лавки встановлять до травня.", "decision": "supported"},
        headers=people.moderator(),
    )
    assert answered.status_code == 200 and answered.json["state"] == "answered"
    assert answered.json["response"]["decision"] == "supported"
    steps = [
        (t["from"], t["to"])
        for t in client.get(f"{API}/petitions/{petition_id}/timeline").json["timeline"]
    ]
    assert steps == [
        (None, "draft"),
        ("draft", "moderation"),
        ("moderation", "open"),
        ("open", "successful"),
        ("successful", "answered"),
    ]


class _settled:
    """Let signatures age past the aggregator's settling time."""

    def __enter__(self):
        from services.common import folding

        self.saved, folding.SETTLE = folding.SETTLE, folding.SETTLE * 0
        return self

    def __exit__(self, *_):
        from services.common import folding

        folding.SETTLE = self.saved


def test_rejection_needs_a_catalogue_reason(client, people, councils):
    petition_id = file(client, people).json["id"]
    client.post(f"{API}/petitions/{petition_id}/submit", headers=people.resident(100))
    bad = client.post(
        f"{API}/petitions/{petition_id}/reject",
        json={"reason": "dislike", "explanation": "Ми проти."},
        headers=people.moderator(),
    )
    assert bad.status_code == 422 and "reason" in bad.json["errors"]
    rejected = client.post(
        f"{API}/petitions/{petition_id}/reject",
        json={"reason": "outside-competence", "explanation": "Це питання обласної ради."},
        headers=people.moderator(),
    )
    assert rejected.json["state"] == "rejected"
    assert client.get(f"{API}/petitions/{petition_id}").json["rejection_reason"] == (
        "outside-competence"
    )


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("approve", None),
        ("reject", {"reason": "duplicate", "explanation": "Така петиція вже є."}),
        ("response", {"text": "Відповідь ради.", "decision": "supported"}),
    ],
)
def test_moderation_from_the_wrong_state_is_409(client, people, councils, action, body):
    petition_id = open_petition(client, people)
    response = client.post(
        f"{API}/petitions/{petition_id}/{action}", json=body, headers=people.moderator()
    )
    assert response.status_code == 409 and response.json["type"].endswith(":wrong-state")


def test_submitting_or_editing_twice_is_409(client, people, councils):
    petition_id = open_petition(client, people)
    author = people.resident(100)
    assert client.post(f"{API}/petitions/{petition_id}/submit", headers=author).status_code == 409
    assert (
        client.patch(
            f"{API}/petitions/{petition_id}", json={"title": "Нова назва петиції"}, headers=author
        ).status_code
        == 409
    )


def test_a_moderator_of_one_council_moves_nothing_in_another(client, people, councils):
    petition_id = file(client, people, council="oliivka").json["id"]
    client.post(f"{API}/petitions/{petition_id}/submit", headers=people.resident(100))
    stranger = people.moderator("kyiv")
    assert client.get(f"{API}/councils/oliivka/moderation", headers=stranger).status_code == 403
    for action, body in (
        ("approve", None),
        ("reject", {"reason": "duplicate", "explanation": "Дублікат петиції."}),
    ):
        response = client.post(
            f"{API}/petitions/{petition_id}/{action}", json=body, headers=stranger
        )
        assert response.status_code in (403, 404)
    # Nothing moved: its own moderator still finds it waiting.
    queue = client.get(f"{API}/councils/oliivka/moderation", headers=people.moderator("oliivka"))
    assert [p["state"] for p in queue.json["petitions"]] == ["moderation"]
    assert (
        client.put(
            f"{API}/councils/oliivka/policy", json={"threshold": 1}, headers=people.admin("kyiv")
        ).status_code
        == 403
    )


def test_only_the_author_edits_and_submits(client, people, councils):
    petition_id = file(client, people).json["id"]
    other = people.resident(5)
    assert (
        client.patch(
            f"{API}/petitions/{petition_id}", json={"title": "Чужа назва тут"}, headers=other
        ).status_code
        == 404
    )
    assert client.post(f"{API}/petitions/{petition_id}/submit", headers=other).status_code == 404


def test_unverified_authors_and_unknown_councils_are_refused(client, people, councils):
    assert file(client, people, phone_verified=False).status_code == 403
    assert file(client, people, council="atlantis").status_code == 422


def test_take_down_hides_and_records_why(client, people, councils):
    petition_id = open_petition(client, people)
    assert (
        client.post(
            f"{API}/petitions/{petition_id}/take-down",
            json={"reason": "Заклики до насильства в тексті."},
            headers=people.moderator(),
        ).status_code
        == 200
    )
    assert client.get(f"{API}/petitions/{petition_id}").status_code == 404
    again = client.post(
        f"{API}/petitions/{petition_id}/take-down",
        json={"reason": "Ще раз приховати."},
        headers=people.moderator(),
    )
    assert again.status_code == 409


def test_expired_petitions_close_by_themselves(client, people, councils, petitions_app):
    petition_id = open_petition(client, people)
    with petitions_app.app_context():
        petition = db.session.get(Petition, petition_id)
        petition.deadline_at = utcnow().replace(year=2020)
        db.session.commit()
        assert close_expired(db.session) == 1
    assert client.get(f"{API}/petitions/{petition_id}").json["state"] == "closed"
    assert (
        client.post(
            f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(1)
        ).status_code
        == 409
    )


def test_late_moderation_and_late_responses_are_flagged(client, people, councils, petitions_app):
    client.put(f"{API}/councils/kyiv/policy", json={"threshold": 1}, headers=people.admin())
    submitted_at = utcnow()
    petition_id = submitted_petition(client, people)
    moderator = people.moderator()
    queued = client.get(f"{API}/councils/kyiv/moderation", headers=moderator).json["petitions"]
    due = datetime.fromisoformat(queued[0]["moderation_due_at"])
    # Two working days by default: a weekend in between moves it on.
    assert abs(due - add_working_days(submitted_at, 2, KYIV)) < timedelta(minutes=1)
    assert queued[0]["overdue"] is False and queued[0]["response_due_at"] is None
    make_due_date_pass(petitions_app, petition_id, "moderation_due_at")
    queued = client.get(f"{API}/councils/kyiv/moderation", headers=moderator).json["petitions"]
    assert queued[0]["overdue"] is True

    client.post(f"{API}/petitions/{petition_id}/approve", headers=moderator)
    assert client.get(f"{API}/petitions/{petition_id}").json["overdue"] is False
    client.post(f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(1))
    with petitions_app.app_context(), _settled():
        fold_new_signatures(db.session)
    successful = client.get(f"{API}/petitions/{petition_id}").json
    assert successful["state"] == "successful" and successful["overdue"] is False
    succeeded_at = datetime.fromisoformat(successful["succeeded_at"])
    due = datetime.fromisoformat(successful["response_due_at"])
    assert due == add_working_days(succeeded_at, 10, KYIV)  # ten working days by default
    make_due_date_pass(petitions_app, petition_id, "response_due_at")
    assert client.get(f"{API}/petitions/{petition_id}").json["overdue"] is True
    answered = client.post(
        f"{API}/petitions/{petition_id}/response",
        json={"text": "Відповідаємо із запізненням: ліхтарі будуть.", "decision": "supported"},
        headers=moderator,
    ).json
    assert answered["state"] == "answered" and answered["overdue"] is False


def test_a_threshold_reached_in_the_last_second_is_not_lost(
    client, people, councils, petitions_app
):
    """The last signatures came just before the deadline and the aggregator has not
    folded them in yet: judged from its rows, the petition succeeded; it is not closed."""
    petition_id = open_petition(client, people, threshold=2)
    for n in (1, 2):
        signed = client.post(
            f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(n)
        )
        assert signed.status_code == 201
    with petitions_app.app_context():
        petition = db.session.get(Petition, petition_id)
        petition.deadline_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        # Just after the deadline a signature may still be committing: not judged yet.
        assert close_expired(db.session) == 0
        last = db.session.scalars(
            select(Signature.created_at).where(Signature.petition_id == petition_id)
        ).all()[-1]
        assert close_expired(db.session, now=utcnow() + timedelta(seconds=10)) == 1
    judged = client.get(f"{API}/petitions/{petition_id}").json
    assert judged["state"] == "successful"
    assert datetime.fromisoformat(judged["succeeded_at"]) == last
    assert judged["response_due_at"] == add_working_days(last, 10, KYIV).isoformat()
    steps = client.get(f"{API}/petitions/{petition_id}/timeline").json["timeline"]
    assert [t["to"] for t in steps][-2:] == ["open", "successful"]
    # The aggregator, folding them later, counts them once and moves nothing.
    with petitions_app.app_context(), _settled():
        assert fold_new_signatures(db.session) == 2
    judged = client.get(f"{API}/petitions/{petition_id}").json
    assert judged["state"] == "successful" and judged["signatures"] == 2


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent jobs need a server database")
def test_two_processes_judge_each_petition_once(client, people, councils, petitions_app):
    """Every process runs the deadline job; at the same moment, each petition is still
    judged once, by one of them."""
    ids = [open_petition(client, people, title=f"Петиція {n}") for n in range(3)]
    with petitions_app.app_context():
        db.session.execute(
            update(Petition)
            .where(Petition.id.in_(ids))
            .values(deadline_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
    judged = as_processes_at_once(petitions_app, close_expired)
    assert failures(judged) == [] and sum(judged) == 3
    for petition_id in ids:
        steps = client.get(f"{API}/petitions/{petition_id}/timeline").json["timeline"]
        assert [t["to"] for t in steps].count("closed") == 1


def test_working_days_skip_weekends():
    friday = datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert add_working_days(friday, 1).weekday() == 0  # Monday
    assert add_working_days(friday, 2).day == 24


def test_working_days_are_the_councils_own():
    # Just after midnight on a Saturday in Kyiv is still Friday in UTC: one working day
    # later is Monday just after midnight there, not Tuesday.
    saturday_in_kyiv = datetime(2026, 11, 21, 0, 30, tzinfo=KYIV)
    assert saturday_in_kyiv.astimezone(UTC).weekday() == 4
    assert add_working_days(saturday_in_kyiv, 1, KYIV) == datetime(2026, 11, 23, 0, 30, tzinfo=KYIV)
    # New Year's Day, a Friday, is a day off: from Thursday noon one working day is Monday.
    thursday = datetime(2026, 12, 31, 12, tzinfo=KYIV)
    assert add_working_days(thursday, 1, KYIV, {"2027-01-01"}) == datetime(
        2027, 1, 4, 12, tzinfo=KYIV
    )
    # Across the spring clock change the deadline keeps its hour on the council's clocks.
    before_dst = datetime(2027, 3, 26, 12, tzinfo=KYIV)
    due = add_working_days(before_dst, 1, KYIV)
    assert due.tzinfo is UTC and due.astimezone(KYIV).hour == 12
    assert due - before_dst == timedelta(days=3) - timedelta(hours=1)


def test_the_councils_days_off_move_its_deadlines(client, people, councils):
    admin = people.admin()
    today = utcnow().astimezone(KYIV).date()
    next_weekdays = [
        day for day in (today + timedelta(days=n) for n in range(1, 15)) if day.weekday() < 5
    ][:5]
    days_off = [day.isoformat() for day in reversed(next_weekdays)] + [
        next_weekdays[0].isoformat()  # twice: kept once
    ]
    changed = client.put(
        f"{API}/councils/kyiv/policy", json={"non_working_days": days_off}, headers=admin
    )
    assert changed.status_code == 200, changed.json
    kept = [day.isoformat() for day in next_weekdays]
    assert client.get(f"{API}/councils/kyiv/policy").json["non_working_days"] == kept
    submitted_at = utcnow()
    petition_id = submitted_petition(client, people)
    seen = client.get(f"{API}/petitions/{petition_id}", headers=people.moderator()).json
    due = datetime.fromisoformat(seen["moderation_due_at"])
    assert abs(due - add_working_days(submitted_at, 2, KYIV, set(kept))) < timedelta(minutes=1)
    # Five weekdays off first: the two working days come after them.
    assert due.astimezone(KYIV).date() > next_weekdays[-1]
    assert client.get(f"{API}/councils/oliivka/policy").json["non_working_days"] == []


@pytest.mark.parametrize(
    "days_off",
    [
        ["2027-02-30"],
        ["2027-01-01T00:00:00+02:00"],
        ["1 January"],
        ["1999-12-31"],
        [20270101],
        "2027-01-01",
        [(date(2027, 1, 1) + timedelta(days=n)).isoformat() for n in range(201)],
    ],
)
def test_days_off_that_are_no_dates_are_refused(client, people, councils, days_off):
    admin = people.admin()
    refused = client.put(
        f"{API}/councils/kyiv/policy", json={"non_working_days": days_off}, headers=admin
    )
    assert refused.status_code == 422
    assert all(field.startswith("non_working_days") for field in refused.json["errors"])
    assert client.get(f"{API}/councils/kyiv/policy").json["non_working_days"] == []


def test_only_the_councils_admins_set_its_days_off(client, people, councils):
    for headers in (people.moderator(), people.admin("oliivka"), people.resident(1)):
        refused = client.put(
            f"{API}/councils/kyiv/policy",
            json={"non_working_days": ["2027-01-01"]},
            headers=headers,
        )
        assert refused.status_code == 403
    assert client.get(f"{API}/councils/kyiv/policy").json["non_working_days"] == []


def test_a_change_of_rules_can_be_checked_without_being_made(client, people, councils):
    """The settings page checks with every service before it changes any."""
    url = f"{API}/councils/kyiv/policy?check_only=true"
    before = client.get(f"{API}/councils/kyiv/policy").json
    checked = client.put(url, json={"threshold": 7}, headers=people.admin())
    assert checked.status_code == 200 and checked.json == before
    assert client.get(f"{API}/councils/kyiv/policy").json == before
    assert client.put(url, json={"threshold": 0}, headers=people.admin()).status_code == 422
    assert client.put(url, json={"threshold": 7}, headers=people.moderator()).status_code == 403


def test_a_title_reads_as_it_is_written(client, people, councils, petitions_app):
    """U+202E shows "Bidi txt.exe" as "Bidi exe.txt"; a line break writes a paragraph of
    its own. Either is refused, and nothing is filed or changed."""
    author = people.resident(100)
    one_line = "Write one line, without line breaks or invisible control characters."
    for title in (
        "Bidi \u202etxt.exe\u202c",
        "Лавки \u2066у парку\u2069",
        "Лавки у парку\nТЕРМІНОВО",
        "Лавки\tу парку",
    ):
        body = {"council": "kyiv", "title": title, "text": TEXT}
        refused = client.post(f"{API}/petitions?lang=en", json=body, headers=author)
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
        assert refused.json["errors"] == {"title": [one_line]}, title
    with petitions_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Petition)) == 0
    draft = file(client, people).json
    url = f"{API}/petitions/{draft['id']}"
    edited = client.patch(url, json={"title": "Більше \u202eлавок"}, headers=author)
    assert edited.status_code == 422 and "title" in edited.json["errors"]
    assert client.get(url, headers=author).json["title"] == "Більше лавок"
    # A council's own reasons for rejecting are shown beside petitions too.
    reasons = {"rejection_reasons": ["Дубль", "\u202eмапс"]}
    policy = client.put(f"{API}/councils/kyiv/policy", json=reasons, headers=people.admin())
    assert policy.status_code == 422 and "rejection_reasons.1" in policy.json["errors"]


def test_a_title_of_the_wrong_length_is_counted_in_characters(client, people, councils):
    body = {"council": "kyiv", "title": "Ні", "text": "Коротко"}
    refused = client.post(f"{API}/petitions?lang=en", json=body, headers=people.resident(1))
    assert refused.status_code == 422
    assert refused.json["errors"]["title"] == ["Give from 5 to 200 characters."]
    assert refused.json["errors"]["text"] == ["Give from 20 to 10000 characters."]
