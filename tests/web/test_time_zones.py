"""Pages show a council's times on its own clocks, and the poll form reads them so."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from tests.petitions.conftest import open_petition
from tests.web.test_pages import EVERY_REASON, csrf, signed_in_with_role

pytestmark = pytest.mark.usefixtures("councils")


def set_deadline(petitions_app, petition_id: int, deadline: datetime) -> None:
    from services.petitions.models import Petition
    from services.petitions.models import db as petitions_db

    with petitions_app.app_context():
        petitions_db.session.get(Petition, petition_id).deadline_at = deadline
        petitions_db.session.commit()


def change_time_zone(client, council: str, zone: str) -> None:
    """As the operator would, then forgotten by the web at once."""
    from services.common.councils import forget_councils

    with client.application.apps["auth"].test_request_context("/"):
        from services.auth.councils.domain import update_council
        from services.auth.models import db as auth_db

        update_council(auth_db.session, actor_id=None, slug=council, changes={"time_zone": zone})
    forget_councils()


def page(client, path: str) -> str:
    return html.unescape(client.get(path).get_data(as_text=True))


def test_a_deadline_late_in_the_utc_evening_is_the_next_day_in_kyiv(client, people, petitions_app):
    petition_id = open_petition(client, people, title="Ліхтарі на вулиці Шевченка")
    set_deadline(petitions_app, petition_id, datetime(2036, 11, 29, 22, 30, tzinfo=UTC))
    shown = page(client, f"/petitions/{petition_id}?lang=en")
    until = "Collecting signatures until November 30, 2036, 12:30\u202fAM"
    assert f"{until} Eastern European Standard Time" in shown
    assert "Europe/Kyiv" not in shown  # the zone as people name it, not its IANA id
    uk = page(client, f"/petitions/{petition_id}?lang=uk")
    assert "30 листопада 2036\u202fр., 00:30 за східноєвропейським стандартним часом" in uk
    listed = page(client, "/petitions?lang=en")
    assert "November 30, 2036" in listed
    assert "November 30, 2036" in page(client, "/councils/kyiv?lang=en")

    # Budapest is an hour behind Kyiv: there it is still the 29th.
    change_time_zone(client, "kyiv", "Europe/Budapest")
    shown = page(client, f"/petitions/{petition_id}?lang=en")
    assert "November 29, 2036, 11:30\u202fPM Central European Standard Time" in shown


@pytest.mark.parametrize(
    ("language", "zone", "moment", "shown"),
    [
        # Winter and summer time have their own names; Istanbul keeps one all year.
        (
            "uk",
            "Europe/Kyiv",
            "2026-12-01T10:00:00Z",
            "1 грудня 2026\u202fр., 12:00 за східноєвропейським стандартним часом",
        ),
        (
            "uk",
            "Europe/Kyiv",
            "2026-07-01T09:00:00Z",
            "1 липня 2026\u202fр., 12:00 за східноєвропейським літнім часом",
        ),
        (
            "en",
            "Europe/Budapest",
            "2026-07-01T09:00:00Z",
            "July 1, 2026, 11:00\u202fAM Central European Summer Time",
        ),
        (
            "tr",
            "Europe/Istanbul",
            "2026-12-01T10:00:00Z",
            "1 Aralık 2026 13:00 Türkiye Standart Saati",
        ),
        (
            "hu",
            "Europe/Budapest",
            "2026-12-01T10:00:00Z",
            "2026. december 1. 11:00 közép-európai téli idő",
        ),
        # Russian names a zone as a label ("Eastern Europe, summer time"): in brackets.
        (
            "ru",
            "Europe/Kyiv",
            "2026-07-01T09:00:00Z",
            "1 июля 2026\u202fг., 12:00 (Восточная Европа, летнее время)",
        ),
    ],
)
def test_a_time_names_its_zone_as_people_say_it_in_the_pages_language(
    client, language, zone, moment, shown
):
    from services.common.dates import format_datetime

    change_time_zone(client, "kyiv", zone)
    with client.application.apps["web"].test_request_context(f"/?lang={language}"):
        assert format_datetime(moment, "kyiv") == shown


def test_the_moderation_queue_dates_petitions_on_the_councils_calendar(
    client, auth_app, people, petitions_app
):
    from services.petitions.models import Petition
    from services.petitions.models import db as petitions_db
    from tests.petitions.conftest import submitted_petition

    petition_id = submitted_petition(client, people, "kyiv", "Лавки у сквері біля школи")
    with petitions_app.app_context():
        filed = petitions_db.session.get(Petition, petition_id)
        filed.created_at = datetime(2026, 12, 31, 22, 15, tzinfo=UTC)
        petitions_db.session.commit()
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    queue = page(client, "/councils/kyiv/moderation?lang=en")
    assert "January 1, 2027" in queue and "December 31" not in queue


def poll_form(client, auth_app):
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    form = client.get("/councils/kyiv/polls?lang=en")
    assert "Opens (Europe/Kyiv time, optional)" in html.unescape(form.get_data(as_text=True))
    return csrf(form)


def create_poll(client, token: str, **times):
    return client.post(
        "/councils/kyiv/polls?lang=uk",
        data={
            "csrf": token,
            "question": "Де поставити нові лавки?",
            "options": "У сквері\nБіля школи\n",
            **times,
        },
    )


def stored_polls(client, people) -> list[dict]:
    listed = client.get("/api/polls/polls?council=kyiv&state=draft", headers=people.moderator())
    return listed.json["polls"]


WINTER, SUMMER = "стандартним", "літнім"  # Kyiv's time, as the Ukrainian page names it


@pytest.mark.parametrize(
    ("opens", "closes", "opens_utc", "closes_utc", "seasons"),
    [
        # Winter: Kyiv is UTC+2.
        (
            "2026-12-01T18:00",
            "2026-12-08T18:00",
            "2026-12-01T16:00:00",
            "2026-12-08T16:00:00",
            (WINTER, WINTER),
        ),
        # Summer: UTC+3.
        (
            "2026-07-01T18:00",
            "2026-07-08T09:30",
            "2026-07-01T15:00:00",
            "2026-07-08T06:30:00",
            (SUMMER, SUMMER),
        ),
        # The fall-back hour comes twice: its first occurrence (still summer time) is taken.
        (
            "2026-10-25T03:30",
            "2026-10-26T03:30",
            "2026-10-25T00:30:00",
            "2026-10-26T01:30:00",
            (SUMMER, WINTER),
        ),
    ],
)
def test_poll_times_are_typed_on_the_councils_clocks_and_stored_in_utc(
    client, auth_app, people, opens, closes, opens_utc, closes_utc, seasons
):
    token = poll_form(client, auth_app)
    made = create_poll(client, token, opens_at=opens, closes_at=closes)
    assert made.status_code == 303
    (poll,) = stored_polls(client, people)
    assert datetime.fromisoformat(poll["opens_at"]) == datetime.fromisoformat(opens_utc + "Z")
    assert datetime.fromisoformat(poll["closes_at"]) == datetime.fromisoformat(closes_utc + "Z")
    # Shown back on the council's clocks.
    listed = page(client, "/councils/kyiv/polls?lang=uk")
    for typed, season in zip((opens, closes), seasons, strict=True):
        assert f"{typed[-5:]} за східноєвропейським {season} часом" in listed


def test_a_time_the_clocks_skip_is_refused_next_to_its_field(client, auth_app, people):
    token = poll_form(client, auth_app)
    # 29 March 2026: Kyiv's clocks go from 03:00 straight to 04:00.
    refused = create_poll(client, token, opens_at="2026-03-29T03:30", closes_at="2026-04-05T12:00")
    assert refused.status_code == 422
    shown = html.unescape(refused.get_data(as_text=True))
    assert 'id="opens_at-error"' in shown and "Europe/Kyiv" in shown
    assert 'value="2026-03-29T03:30"' in shown  # what was typed, to correct
    assert stored_polls(client, people) == []
    assert create_poll(client, token, opens_at="garbage").status_code == 422  # the API says so
    assert create_poll(client, token, opens_at="0001-01-01T00:00").status_code == 422
    assert stored_polls(client, people) == []


def test_an_admin_sets_the_councils_time_zone_on_the_settings_page(client, auth_app, people):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    settings = client.get("/councils/kyiv/settings?lang=uk")
    assert 'value="Europe/Kyiv"' in settings.get_data(as_text=True)
    wrong = client.post(
        "/councils/kyiv/settings?lang=uk",
        data={
            "csrf": csrf(settings),
            "time_zone": "Europe/Atlantis",
            "threshold": "7",
            **EVERY_REASON,
        },
    )
    assert wrong.status_code == 422 and 'role="alert"' in wrong.get_data(as_text=True)
    assert client.get("/api/auth/councils/kyiv").json["time_zone"] == "Europe/Kyiv"
    assert client.get("/api/petitions/councils/kyiv/policy").json["threshold"] != 7
    saved = client.post(
        "/councils/kyiv/settings?lang=uk",
        data={"csrf": csrf(settings), "time_zone": "Europe/Istanbul", **EVERY_REASON},
    )
    assert saved.status_code == 200 and 'role="status"' in saved.get_data(as_text=True)
    assert client.get("/api/auth/councils/kyiv").json["time_zone"] == "Europe/Istanbul"
    form = page(client, "/councils/kyiv/polls?lang=en")
    assert "Opens (Europe/Istanbul time, optional)" in form


def test_a_moderator_cannot_change_the_time_zone(client, auth_app):
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    settings = client.get("/councils/kyiv/settings")
    refused = client.post(
        "/councils/kyiv/settings", data={"csrf": csrf(settings), "time_zone": "Europe/Budapest"}
    )
    assert refused.status_code == 403
    assert client.get("/api/auth/councils/kyiv").json["time_zone"] == "Europe/Kyiv"


def test_a_scheduled_poll_shows_when_it_opens_on_its_page(client, people):
    made = client.post(
        "/api/polls/polls",
        json={
            "council": "kyiv",
            "question": "Де поставити нові лавки?",
            "options": ["У сквері", "Біля школи"],
            "opens_at": "2099-06-30T21:00:00Z",
            "closes_at": "2099-07-31T21:00:00Z",
        },
        headers=people.moderator(),
    )
    assert made.status_code == 201, made.json
    poll_id = made.json["id"]
    published = client.post(f"/api/polls/polls/{poll_id}/publish", headers=people.moderator())
    assert published.status_code == 200, published.json
    shown = page(client, f"/polls/{poll_id}?lang=en")
    assert "Opens July 1, 2099, 12:00\u202fAM Eastern European Summer Time" in shown


def draft_card(client, poll_id: int) -> str:
    """The poll's card on the council's polls page ("" when the page shows none)."""
    shown = page(client, "/councils/kyiv/polls?lang=en")
    start = shown.find(f'id="poll-{poll_id}"')
    return "" if start < 0 else shown[start : shown.index("</article>", start)]


def change_draft(client, token: str, poll_id: int, **typed):
    """Save a draft's change form as a browser does: its fields as the page filled them
    in (the hidden shown_* times among them), with `typed` over them."""
    card = draft_card(client, poll_id)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', card))
    answers = re.search(r'name="options"[^>]*>([^<]*)</textarea>', card)
    if answers:
        fields["options"] = answers.group(1)
    return client.post(
        f"/councils/kyiv/polls/{poll_id}/change?lang=en",
        data={**fields, **typed, "csrf": token},
    )


def test_a_draft_is_changed_on_the_councils_clocks_and_keeps_what_was_not_touched(
    client, auth_app, people
):
    token = poll_form(client, auth_app)
    create_poll(client, token, opens_at="2026-12-01T18:00", closes_at="2026-12-08T18:00")
    (poll,) = stored_polls(client, people)
    card = draft_card(client, poll["id"])
    assert 'value="2026-12-01T18:00"' in card and 'value="2026-12-08T18:00"' in card
    changed = change_draft(
        client,
        token,
        poll["id"],
        question="Де поставити лавки й ліхтарі?",
        options="У сквері\nБіля школи\nНа набережній",
        closes_at="2026-12-15T09:30",
    )
    assert changed.status_code == 303
    (poll,) = stored_polls(client, people)
    assert poll["question"] == "Де поставити лавки й ліхтарі?"
    assert [o["label"] for o in poll["options"]] == ["У сквері", "Біля школи", "На набережній"]
    assert datetime.fromisoformat(poll["opens_at"]) == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert datetime.fromisoformat(poll["closes_at"]) == datetime(2026, 12, 15, 7, 30, tzinfo=UTC)
    # Emptied: no closing time any more.
    emptied = change_draft(
        client,
        token,
        poll["id"],
        options="А\nБ",
        closes_at="",
    )
    assert emptied.status_code == 303
    assert stored_polls(client, people)[0]["closes_at"] is None


def test_a_repeated_autumn_hour_sent_back_unchanged_keeps_its_moment(client, auth_app, people):
    """03:30 on 25 October 2026 comes twice in Kyiv; the second one (01:30 UTC) shows as
    03:30 and, sent back untouched, is not read as the first (00:30 UTC)."""
    token = poll_form(client, auth_app)
    second = "2026-10-25T01:30:00Z"
    made = client.post(
        "/api/polls/polls",
        json={"council": "kyiv", "question": "Коли?", "options": ["А", "Б"], "opens_at": second},
        headers=people.moderator(),
    )
    assert made.status_code == 201
    poll_id = made.json["id"]
    assert 'value="2026-10-25T03:30"' in draft_card(client, poll_id)
    kept = change_draft(
        client,
        token,
        poll_id,
        question="Коли саме?",
    )
    assert kept.status_code == 303
    (poll,) = stored_polls(client, people)
    assert poll["question"] == "Коли саме?"
    assert datetime.fromisoformat(poll["opens_at"]) == datetime.fromisoformat(second)


def test_a_change_that_cannot_be_made_changes_nothing_and_says_why(client, auth_app, people):
    token = poll_form(client, auth_app)
    create_poll(client, token, opens_at="2026-12-01T18:00")
    (poll,) = stored_polls(client, people)
    skipped = change_draft(
        client,
        token,
        poll["id"],
        question="Інше питання",
        opens_at="2026-03-29T03:30",  # Kyiv's clocks skip it
    )
    assert skipped.status_code == 422
    card = html.unescape(skipped.get_data(as_text=True))
    assert "Europe/Kyiv" in card and 'value="2026-03-29T03:30"' in card  # typed, to correct
    assert change_draft(client, token, poll["id"], question="", options="А").status_code == 422
    assert stored_polls(client, people) == [poll]
    # Published: no longer a draft to change or delete.
    published = client.post(f"/api/polls/polls/{poll['id']}/publish", headers=people.moderator())
    assert published.status_code == 200
    late = change_draft(client, token, poll["id"], question="Пізно", options="А\nБ")
    assert late.status_code == 409 and "Only a draft can be changed." in late.get_data(as_text=True)
    gone = client.post(f"/councils/kyiv/polls/{poll['id']}/delete", data={"csrf": token})
    assert gone.status_code == 409
    assert client.get(f"/api/polls/polls/{poll['id']}").json["question"] == poll["question"]


def test_a_draft_is_deleted_and_another_councils_draft_is_out_of_reach(client, auth_app, people):
    token = poll_form(client, auth_app)
    create_poll(client, token)
    (poll,) = stored_polls(client, people)
    assert (
        client.post(f"/councils/kyiv/polls/{poll['id']}/delete", data={"csrf": token}).status_code
        == 303
    )
    assert stored_polls(client, people) == []
    theirs = client.post(
        "/api/polls/polls",
        json={"council": "oliivka", "question": "Їхнє питання?", "options": ["А", "Б"]},
        headers=people.moderator("oliivka"),
    ).json["id"]
    for refused in (
        change_draft(client, token, theirs, question="Наше!", options="А\nБ"),
        client.post(f"/councils/kyiv/polls/{theirs}/delete", data={"csrf": token}),
    ):
        assert refused.status_code in (403, 404)
    shown = client.get(f"/api/polls/polls/{theirs}", headers=people.moderator("oliivka"))
    assert shown.json["question"] == "Їхнє питання?"
    # Without the form's token nothing is done either.
    assert client.post(f"/councils/kyiv/polls/{theirs}/delete").status_code in (400, 403)
