"""The council's poll pages: create, publish, copy the snippet, close; the council's home."""

from __future__ import annotations

import html

import pytest

from services.polls.models import Poll
from services.polls.models import db as polls_db
from tests.web.test_pages import csrf, signed_in_with_role

pytestmark = pytest.mark.usefixtures("councils")


def moderator_signed_in(client, auth_app):
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")


def test_a_moderator_creates_publishes_embeds_and_closes_a_poll(client, auth_app):
    moderator_signed_in(client, auth_app)
    page = client.get("/councils/kyiv/polls?lang=uk")
    assert page.status_code == 200
    token = csrf(page)
    bad = client.post(
        "/councils/kyiv/polls?lang=uk",
        data={"csrf": token, "question": "Звідки новини?", "options": "Лише одна"},
    )
    assert bad.status_code == 422 and 'id="options-error"' in bad.get_data(as_text=True)
    made = client.post(
        "/councils/kyiv/polls?lang=uk",
        data={
            "csrf": token,
            "question": "Звідки ви дізнаєтеся про події в громаді?",
            "options": "Сайт громади\nFacebook\nTelegram\n",
            "method": "email",
            "results_visibility": "always",
            "language": "uk",
            "closes_at": "2099-01-01T10:00",
        },
    )
    assert made.status_code == 303
    listed = client.get("/councils/kyiv/polls?lang=uk").get_data(as_text=True)
    assert "Звідки ви дізнаєтеся" in listed and "Чернетка" in listed
    assert "Опитування створено як чернетку" in listed  # said once, after the redirect
    poll_id = int(listed.split('id="poll-', 1)[1].split('"', 1)[0])
    assert (
        client.post(f"/councils/kyiv/polls/{poll_id}/publish", data={"csrf": token}).status_code
        == 303
    )
    published = html.unescape(client.get("/councils/kyiv/polls?lang=uk").get_data(as_text=True))
    assert "widget.js" in published and f'data-poll="{poll_id}"' in published
    assert "Опитування опубліковано." in published  # what the moderator did, said once
    home = client.get("/councils/kyiv?lang=uk").get_data(as_text=True)
    assert "Звідки ви дізнаєтеся" in home
    assert (
        client.post(f"/councils/kyiv/polls/{poll_id}/close", data={"csrf": token}).status_code
        == 303
    )
    assert "Закрите" in client.get("/councils/kyiv/polls?lang=uk").get_data(as_text=True)
    again = client.post(f"/councils/kyiv/polls/{poll_id}/close", data={"csrf": token})
    assert again.status_code == 409


def test_a_number_in_other_digits_is_no_number(client, auth_app):
    moderator_signed_in(client, auth_app)
    token = csrf(client.get("/councils/kyiv/polls"))
    odd_digits = client.post(
        "/councils/kyiv/polls?lang=uk",
        data={"csrf": token, "question": "Звідки новини?", "options": "А\nБ", "max_choices": "²"},
    )
    # Not a number: said beside the field, not taken as one answer behind one's back.
    assert odd_digits.status_code == 422 and 'id="max_choices-error"' in odd_digits.text
    assert 'value="²"' in odd_digits.text


def test_another_councils_polls_page_refuses(client, auth_app):
    moderator_signed_in(client, auth_app)
    assert client.get("/councils/oliivka/polls").status_code == 403
    assert client.get("/councils/atlantis").status_code == 404


def test_a_councils_home_speaks_its_language_first(client, auth_app):
    from services.auth.councils.domain import create_council
    from services.auth.models import db as auth_db

    with auth_app.test_request_context("/"):
        create_council(auth_db.session, slug="keszthely", name="Keszthely", default_language="hu")
    page = client.get("/councils/keszthely", headers={"Accept-Language": "en"})
    assert '<html lang="hu">' in page.get_data(as_text=True)
    chosen = client.get("/councils/keszthely?lang=uk")
    assert '<html lang="uk">' in chosen.get_data(as_text=True)
    # The choice is remembered.
    assert '<html lang="uk">' in client.get("/councils/keszthely").get_data(as_text=True)


def test_a_too_long_answer_is_named_by_its_line_and_the_form_is_kept(client, auth_app):
    moderator_signed_in(client, auth_app)
    token = csrf(client.get("/councils/kyiv/polls"))
    long_answer = "Д" * 201
    refused = client.post(
        "/councils/kyiv/polls?lang=en",
        data={
            "csrf": token,
            "question": "Where do you read the news?",
            "options": f"The website\n\n{long_answer}\nTelegram",
        },
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    message = page.split('id="options-error"', 1)[1].split("</p>", 1)[0]
    assert "Line 3: " in message  # the blank line counts: the textarea shows it
    assert f"\n\n{long_answer}\nTelegram</textarea>" in page
    assert "Where do you read the news?" in page


def test_a_new_poll_speaks_the_councils_language_unless_told_otherwise(client, auth_app):
    """A moderator reading the site in English makes a poll for a Ukrainian council."""
    moderator_signed_in(client, auth_app)
    page = client.get("/councils/kyiv/polls?lang=en")
    assert '<option value="uk" selected>' in page.text
    refused = client.post(  # one answer only: the form comes back as typed
        "/councils/kyiv/polls?lang=en",
        data={
            "csrf": csrf(page),
            "question": "Hol?",
            "options": "A",
            "language": "hu",
            "method": "account+phone",
            "results_visibility": "after_close",
        },
    )
    assert refused.status_code == 422 and '<option value="hu" selected>' in refused.text
    assert '<option value="account+phone" selected>' in refused.text
    assert '<option value="after_close" selected>' in refused.text


def test_the_snippet_says_where_it_can_be_shown(client, auth_app):
    moderator_signed_in(client, auth_app)
    token = csrf(client.get("/councils/kyiv/polls"))
    made = client.post(
        "/councils/kyiv/polls?lang=en",
        data={"csrf": token, "question": "Where?", "options": "Here\nThere", "method": "email"},
    )
    assert made.status_code == 303
    listed = client.get("/councils/kyiv/polls?lang=en").text
    poll_id = int(listed.split('id="poll-', 1)[1].split('"', 1)[0])
    client.post(f"/councils/kyiv/polls/{poll_id}/publish", data={"csrf": token})
    published = client.get("/councils/kyiv/polls?lang=en").text
    assert "shows only on the websites listed in the council's settings" in published
    assert 'href="/councils/kyiv/settings"' in published


def test_a_poll_has_a_description_and_up_to_n_choices(client, auth_app, people):
    moderator_signed_in(client, auth_app)
    token = csrf(client.get("/councils/kyiv/polls?lang=en"))
    poll = {
        "csrf": token,
        "question": "Що полагодити першим?",
        "description": "Бюджет участі на 2027 рік.",
        "options": "Дорогу\nЛіхтарі\nЛавки",
        "language": "uk",
    }
    too_many = client.post("/councils/kyiv/polls?lang=en", data={**poll, "max_choices": "4"})
    assert too_many.status_code == 422 and 'id="max_choices-error"' in too_many.text
    assert "Бюджет участі на 2027 рік." in too_many.text  # the form is kept as typed
    made = client.post("/councils/kyiv/polls?lang=en", data={**poll, "max_choices": "2"})
    assert made.status_code == 303
    (stored,) = client.get(
        "/api/polls/polls?council=kyiv&state=draft", headers=people.moderator()
    ).json["polls"]
    assert stored["description"] == "Бюджет участі на 2027 рік." and stored["max_choices"] == 2
    listed = client.get("/councils/kyiv/polls?lang=en").text
    assert f'id="max_choices-{stored["id"]}" name="max_choices" value="2"' in listed
    changed = client.post(
        f"/councils/kyiv/polls/{stored['id']}/change",
        data={
            "csrf": token,
            "question": poll["question"],
            "description": "Бюджет участі на 2028 рік.",
            "options": poll["options"],
            "max_choices": "3",
        },
    )
    assert changed.status_code == 303
    client.post(f"/councils/kyiv/polls/{stored['id']}/publish", data={"csrf": token})
    own_page = client.get(f"/polls/{stored['id']}?lang=en").text
    assert f"/api/polls/widget/{stored['id']}" in own_page
    # Whose poll and where it stands, above the widget.
    assert (
        'Council: <a href="/councils/kyiv">' in own_page and '"state state-open">Open<' in own_page
    )
    widget = client.get(f"/api/polls/widget/{stored['id']}?lang=en").text
    assert "Бюджет участі на 2028 рік." in widget and "Choose up to 3 answers" in widget
    assert 'type="checkbox"' in widget


def test_what_cannot_be_undone_asks_a_second_time(client, auth_app):
    """Closing a poll and deleting a draft: the first click only opens the question."""
    moderator_signed_in(client, auth_app)
    token = csrf(client.get("/councils/kyiv/polls"))
    for question in ("Open one?", "Draft one?"):
        client.post(
            "/councils/kyiv/polls?lang=en",
            data={"csrf": token, "question": question, "options": "Yes\nNo"},
        )
    listed = client.get("/councils/kyiv/polls?lang=en").text
    first = int(listed.split('id="poll-', 1)[1].split('"', 1)[0])
    client.post(f"/councils/kyiv/polls/{first}/publish", data={"csrf": token})
    page = client.get("/councils/kyiv/polls?lang=en").text
    assert "<summary>Close</summary>" in page and "Yes, close the poll" in page
    assert "<summary>Delete the draft</summary>" in page and "Yes, delete the draft" in page


def test_residents_find_every_councils_polls_from_the_menu(client, people):
    from tests.polls.conftest import new_poll

    draft = new_poll(client, people, publish=False, question="Чернетка: нове опитування")
    kyiv = [new_poll(client, people, question=f"Питання Києва {n}") for n in range(20)]
    oliivka = new_poll(client, people, council="oliivka", question="Питання Оліївки")
    home = client.get("/?lang=uk").get_data(as_text=True)
    assert 'href="/polls"' in home  # in the menu and on the home page
    first = client.get("/polls?lang=uk").get_data(as_text=True)
    # Newest first, each with its council by name; drafts nowhere.
    assert first.index("Питання Оліївки") < first.index("Питання Києва 19")
    assert ">Oliivka</p>" in first and ">Kyiv</p>" in first
    assert draft["question"] not in first and f'href="/polls/{draft["id"]}"' not in first
    more = first.split('rel="next" href="', 1)[1].split('"', 1)[0]
    second = client.get("/polls" + html.unescape(more)).get_data(as_text=True)
    assert "Питання Києва 0" in second and "Питання Оліївки" not in second
    # One council's, and one state's.
    only = client.get("/polls?council=oliivka&lang=uk").get_data(as_text=True)
    assert f'href="/polls/{oliivka["id"]}"' in only and f'href="/polls/{kyiv[0]["id"]}"' not in only
    closed = client.get("/polls?state=closed&lang=uk").get_data(as_text=True)
    assert "Питання" not in closed.split("</form>", 1)[1]
    # A filter that is no state: a problem said on the page, not a crash.
    wrong = client.get("/polls?state=nonsense&after=x&lang=uk")
    assert wrong.status_code == 422 and 'role="alert"' in wrong.get_data(as_text=True)


def test_a_question_or_answer_that_reads_as_other_text_is_refused_beside_it(
    client, auth_app, polls_app
):
    moderator_signed_in(client, auth_app)
    token = csrf(client.get("/councils/kyiv/polls"))
    one_line = "Write one line, without line breaks or invisible control characters."
    refused = client.post(
        "/councils/kyiv/polls?lang=en",
        data={
            "csrf": token,
            "question": "Where do you read \u202esweN\u202c?",
            "options": "The website\nTele\u2066gram\u2069",
        },
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert one_line in page.split('id="question-error"', 1)[1].split("</p>", 1)[0]
    options = page.split('id="options-error"', 1)[1].split("</p>", 1)[0]
    assert f"Line 2: {one_line}" in options
    with polls_app.app_context():
        assert polls_db.session.query(Poll).count() == 0  # nothing was made
