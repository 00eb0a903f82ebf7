"""Pages for the account (phone verification, export), filing, moderation, the response."""

from __future__ import annotations

import json

import pytest

from tests.auth.helpers import sms_code
from tests.petitions.conftest import (
    TEXT,
    make_due_date_pass,
    open_petition,
    rejected_petition,
    submitted_petition,
)
from tests.web.test_pages import csrf, register_and_confirm, sign_in, signed_in_with_role

pytestmark = pytest.mark.usefixtures("councils")


RESPONSE = "Ліхтарі встановимо до зими.\n\nКошти передбачено в бюджеті на наступний рік."


def test_a_resident_verifies_the_phone_from_the_account_page(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/account?lang=uk")
    assert page.status_code == 200 and "Підтвердьте телефон" in page.get_data(as_text=True)
    sent = client.post("/account/phone/code?lang=uk", data={"csrf": csrf(page)})
    assert sent.status_code == 200 and 'name="code"' in sent.get_data(as_text=True)
    wrong = client.post(
        "/account/phone/verify?lang=uk", data={"csrf": csrf(page), "code": "000000"}
    )
    assert wrong.status_code in (400, 422) and 'role="alert"' in wrong.get_data(as_text=True)
    # Not a code at all: said in words that say what a code is.
    letters = client.post("/account/phone/verify?lang=uk", data={"csrf": csrf(page), "code": "abc"})
    assert letters.status_code == 422 and "шість цифр" in letters.text
    verified = client.post(
        "/account/phone/verify?lang=uk", data={"csrf": csrf(page), "code": sms_code(auth_app)}
    )
    assert verified.status_code == 303
    after = client.get("/account?lang=uk").get_data(as_text=True)
    assert 'id="phone-verified"' in after and "Ваш номер телефону підтверджено." in after
    exported = client.get("/account/export")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert json.loads(exported.get_data())["account"]["email"] == "olena@example.org"


def test_pages_for_signed_in_people_send_others_to_sign_in(client):
    for path in ("/account", "/petitions/new", "/councils/kyiv/moderation"):
        response = client.get(path)
        assert response.status_code == 303 and "/login?next=" in response.headers["Location"]


def test_filing_shows_similar_petitions_first(client, auth_app, people):
    existing = open_petition(client, people, title="Ліхтарі на вулиці Шевченка")
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"author_verification": "email"},
        headers=people.admin(),
    )
    register_and_confirm(client, auth_app)
    sign_in(client)
    form = client.get("/petitions/new?lang=uk")
    body = {"csrf": csrf(form), "council": "kyiv", "title": "Ліхтарі біля школи", "text": TEXT}
    first = client.post("/petitions/new?lang=uk", data=body)
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and f"/petitions/{existing}" in html
    assert 'name="checked" value="1"' in html
    filed = client.post("/petitions/new?lang=uk", data={**body, "checked": "1"})
    assert filed.status_code == 303
    page = client.get(filed.headers["Location"]).get_data(as_text=True)
    assert "Ліхтарі біля школи" in page
    short = client.post(
        "/petitions/new?lang=uk", data={**body, "title": "Ні", "text": "ні", "checked": "1"}
    )
    assert short.status_code == 422 and 'id="title-error"' in short.get_data(as_text=True)


def test_a_moderator_works_the_queue_from_the_page(client, auth_app, people):
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"author_verification": "email", "threshold": 1},
        headers=people.admin(),
    )
    author = people.resident(100)
    ids = []
    for title in ("Сквер замість парковки", "Заборонити все назавжди"):
        created = client.post(
            "/api/petitions/petitions",
            json={"council": "kyiv", "title": title, "text": TEXT},
            headers=author,
        ).json
        client.post(f"/api/petitions/petitions/{created['id']}/submit", headers=author)
        ids.append(created["id"])
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    queue = client.get("/councils/kyiv/moderation?lang=uk")
    html = queue.get_data(as_text=True)
    assert queue.status_code == 200 and "Сквер замість парковки" in html
    assert html.count("Розглянути до ") == 2 and "Прострочено" not in html
    assert "/councils/kyiv/moderation" in html  # the menu offers the council's queue
    token = csrf(queue)
    approved = client.post(f"/councils/kyiv/petitions/{ids[0]}/approve", data={"csrf": token})
    assert approved.status_code == 303
    no_reason = client.post(
        f"/councils/kyiv/petitions/{ids[1]}/reject",
        data={"csrf": token, "reason": "dislike", "explanation": "Ні."},
    )
    assert no_reason.status_code == 422
    rejected = client.post(
        f"/councils/kyiv/petitions/{ids[1]}/reject",
        data={"csrf": token, "reason": "unclear-request", "explanation": "Незрозуміло, що саме."},
    )
    assert rejected.status_code == 303
    assert "Nothing waits" in client.get("/councils/kyiv/moderation?lang=en").get_data(as_text=True)
    # Elsewhere the same person is nobody.
    assert client.get("/councils/oliivka/moderation").status_code == 403


def test_a_long_queue_comes_a_page_at_a_time_oldest_first(client, auth_app, people):
    ids = [submitted_petition(client, people, title=f"Петиція номер {n}") for n in range(52)]
    moderator = people.moderator()
    first = client.get("/api/petitions/councils/kyiv/moderation", headers=moderator).json
    assert [p["id"] for p in first["petitions"]] == ids[:50] and first["next_cursor"]
    rest = client.get(
        f"/api/petitions/councils/kyiv/moderation?cursor={first['next_cursor']}", headers=moderator
    ).json
    assert [p["id"] for p in rest["petitions"]] == ids[50:] and rest["next_cursor"] is None
    forged = client.get("/api/petitions/councils/kyiv/moderation?cursor=bm9wZQ", headers=moderator)
    assert forged.status_code == 422 and "cursor" in forged.json["errors"]

    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    page = client.get("/councils/kyiv/moderation?lang=uk").get_data(as_text=True)
    assert page.count('class="card"') == 50 and "Петиція номер 49<" in page
    more = page.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = client.get(f"/councils/kyiv/moderation{more}&lang=uk").get_data(as_text=True)
    assert second.count('class="card"') == 2 and "Петиція номер 51<" in second
    assert 'rel="next"' not in second


def test_the_response_is_published_from_the_petition_page(client, auth_app, people, petitions_app):
    from tests.petitions.test_browsing import fold, sign

    petition_id = open_petition(client, people, threshold=1)
    sign(client, people, petition_id, 1)
    fold(petitions_app)  # the threshold is reached: the council must answer
    signed_in_with_role(client, auth_app, "moderator@example.org", "admin")
    page = client.get(f"/petitions/{petition_id}?lang=uk")
    assert "Оприлюднити відповідь громади" in page.get_data(as_text=True)
    assert "Громада має відповісти до " in page.get_data(as_text=True)
    assert "Прострочено" not in page.get_data(as_text=True)
    make_due_date_pass(petitions_app, petition_id, "response_due_at")
    assert "Прострочено" in client.get(f"/petitions/{petition_id}?lang=uk").get_data(as_text=True)
    listed = client.get("/petitions?state=successful&lang=uk").get_data(as_text=True)
    assert "Громада має відповісти до " in listed and "Прострочено" in listed
    published = client.post(
        f"/petitions/{petition_id}/response",
        data={"csrf": csrf(page), "decision": "supported", "text": RESPONSE},
    )
    assert published.status_code == 303
    shown = client.get(f"/petitions/{petition_id}?lang=uk").get_data(as_text=True)
    # Its paragraphs kept, as the petition's text keeps its own (.text: pre-wrap).
    assert f'<div class="text">{RESPONSE}</div>' in shown
    assert "Громада має відповісти до " not in shown and "Прострочено" not in shown
    assert "Оприлюднити відповідь громади" not in shown


def test_a_moderator_takes_a_petition_down_from_its_page(client, auth_app, people):
    petition_id = open_petition(client, people)
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    page = client.get(f"/petitions/{petition_id}?lang=uk")
    assert "Зняти з публікації" in page.get_data(as_text=True)
    url = f"/councils/kyiv/petitions/{petition_id}/take-down"
    too_short = client.post(url, data={"csrf": csrf(page), "reason": "ні"})
    assert too_short.status_code == 422
    down = client.post(
        url, data={"csrf": csrf(page), "reason": "Містить персональні дані сусідів."}
    )
    assert down.status_code == 303
    assert client.get(f"/api/petitions/petitions/{petition_id}").status_code == 404
    queue_reasons = client.get("/councils/kyiv/moderation?lang=uk").get_data(as_text=True)
    assert "Зняти з публікації" not in queue_reasons


def test_the_timeline_gives_a_rejection_reason_in_the_visitors_language(client, people):
    petition_id = rejected_petition(
        client, people, "Перенести ринок", "outside-competence", "Це питання області."
    )
    for language, label in (("en", "Outside the council's competence"), ("uk", None)):
        page = client.get(f"/petitions/{petition_id}?lang={language}").get_data(as_text=True)
        assert "Це питання області." in page and "outside-competence" not in page
        if label:
            assert label.replace("'", "&#39;") in page


def test_a_refused_moderators_form_comes_back_as_typed_with_its_error(
    client, auth_app, people, petitions_app
):
    from tests.petitions.test_browsing import fold, sign

    answered = open_petition(client, people, threshold=1)
    sign(client, people, answered, 1)
    fold(petitions_app)
    waiting = submitted_petition(client, people, title="Лавки у сквері")
    signed_in_with_role(client, auth_app, "moderator@example.org", "admin")
    token = csrf(client.get(f"/petitions/{answered}"))
    # The response: too short; the decision and the text stay, the error is beside the text.
    short = client.post(
        f"/petitions/{answered}/response?lang=en",
        data={"csrf": token, "decision": "partly-supported", "text": "Так"},
    )
    page = short.get_data(as_text=True)
    assert short.status_code == 422 and "<h1>" in page  # the petition's page, not a bare one
    assert ">Так</textarea>" in page
    assert 'value="partly-supported" selected' in page
    assert (
        "Give from 5 to 20000 characters."
        in page.split('id="response_text-error"', 1)[1].split("</p>", 1)[0]
    )
    # The take-down: no reason; its panel stays open with the error beside the reason.
    empty = client.post(
        f"/councils/kyiv/petitions/{answered}/take-down?lang=en",
        data={"csrf": token, "reason": " "},
    )
    page = empty.get_data(as_text=True)
    assert empty.status_code == 422 and 'id="take_down_reason-error"' in page
    assert "<details open>\n    <summary>Take down</summary>" in page
    # A rejection without an explanation: the Reject panel open, the error inside it.
    refused = client.post(
        f"/councils/kyiv/petitions/{waiting}/reject?lang=en",
        data={"csrf": token, "reason": "unclear-request", "explanation": "Ні"},
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    card = page.split(f'id="petition-{waiting}"', 1)[1]
    approve, reject = card.split("<details", 1)
    assert 'class="error"' not in approve  # not read as if approving failed
    assert reject.startswith(" open>") and f'id="explanation-{waiting}-error"' in reject
    assert ">Ні</textarea>" in reject and 'value="unclear-request" selected' in reject


def test_a_council_page_shows_what_it_owes_and_what_it_answered(client, people, petitions_app):
    from services.petitions.counts import fold_new_signatures
    from services.petitions.models import db as petitions_db
    from tests.petitions.test_lifecycle import _settled

    collecting = open_petition(client, people, threshold=5, title="Лавки у парку Шевченка")
    owed = open_petition(client, people, threshold=1, title="Ліхтарі на вулиці Миру")
    answered = open_petition(client, people, threshold=1, title="Урни біля зупинок")
    for petition_id in (owed, answered):
        signed = client.post(
            f"/api/petitions/petitions/{petition_id}/signatures", json={}, headers=people.resident()
        )
        assert signed.status_code == 201
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    response = client.post(
        f"/api/petitions/petitions/{answered}/response",
        json={"text": "Урни встановлять до травня.", "decision": "supported"},
        headers=people.moderator(),
    )
    assert response.status_code == 200, response.json

    html = client.get("/councils/kyiv?lang=uk").get_data(as_text=True)
    collecting_part, _, rest = html.partition('id="awaiting-answer"')
    owed_part, _, answered_part = rest.partition('id="answered"')
    assert "Лавки у парку Шевченка" in collecting_part and "/ 5" in collecting_part
    assert "Ліхтарі на вулиці Миру" in owed_part and "Урни" not in owed_part
    assert "Урни біля зупинок" in answered_part and "Підтримано" in answered_part
    assert "/petitions?council=kyiv" in html
    # Another council's page shows none of them.
    elsewhere = client.get("/councils/oliivka?lang=uk").get_data(as_text=True)
    assert "Урни" not in elsewhere and 'id="answered"' not in elsewhere

    # A petition's page and the list say which council it is addressed to.
    page = client.get(f"/petitions/{collecting}?lang=uk").get_data(as_text=True)
    assert 'href="/councils/kyiv">Kyiv</a>' in page
    listed = client.get("/petitions?lang=uk").get_data(as_text=True)
    assert listed.count(">Kyiv</p>") == 3
    assert ">Kyiv</p>" not in client.get("/petitions?council=kyiv&lang=uk").get_data(as_text=True)


def test_the_moderation_page_lists_what_awaits_the_councils_answer(
    client, auth_app, people, petitions_app
):
    from tests.petitions.test_browsing import fold, sign

    later = open_petition(client, people, threshold=1, title="Ліхтарі на вулиці Миру")
    late = open_petition(client, people, title="Урни біля зупинок")
    for petition_id in (later, late):
        sign(client, people, petition_id, 1)
    fold(petitions_app)
    make_due_date_pass(petitions_app, late, "response_due_at")
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    page = client.get("/councils/kyiv/moderation?lang=uk").get_data(as_text=True)
    owed = page.split('id="awaiting-answer"', 1)[1]
    # The overdue one first, flagged; each links to its page, where the answer is given.
    assert owed.index("Урни біля зупинок") < owed.index("Ліхтарі на вулиці Миру")
    assert owed.count("Прострочено") == 1 and f'href="/petitions/{late}"' in owed
    # Another council's moderator sees none of them.
    client.post("/logout", data={"csrf": csrf(client.get("/councils/kyiv?lang=uk"))})
    signed_in_with_role(client, auth_app, "other@example.org", "moderator", council="oliivka")
    elsewhere = client.get("/councils/oliivka/moderation?lang=uk").get_data(as_text=True)
    assert "Урни" not in elsewhere and "Ліхтарі" not in elsewhere


def test_a_resident_mends_the_name_on_the_account_page(client, auth_app, people, petitions_app):
    from tests.petitions.test_browsing import fold

    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"signer_verification": "email"},
        headers=people.admin(),
    )
    before = open_petition(client, people, title="Ліхтарі на вулиці Миру")
    after = open_petition(client, people, title="Урни біля зупинок")
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/account?lang=uk")
    assert 'id="name" name="name" type="text" value="Олена Коваль"' in page.text
    assert client.post(f"/petitions/{before}/sign", data={"csrf": csrf(page)}).status_code == 303

    wrong = client.post("/account/name?lang=uk", data={"csrf": csrf(page), "name": " "})
    assert wrong.status_code == 422 and 'id="name-error"' in wrong.text
    changed = client.post(
        "/account/name?lang=uk", data={"csrf": csrf(page), "name": "Олена Ковальчук"}
    )
    assert changed.status_code == 303
    shown = client.get("/account?lang=uk").text
    assert 'class="who" title="Олена Ковальчук">Олена Ковальчук</a>' in shown  # the menu, at once
    assert client.post(f"/petitions/{after}/sign", data={"csrf": csrf(page)}).status_code == 303
    fold(petitions_app)
    # A signature keeps the name it was given with; the next one carries the new name.
    signers = {
        petition_id: client.get(f"/api/petitions/petitions/{petition_id}/signers").json
        for petition_id in (before, after)
    }
    assert signers[before]["signers"] == ["Олена Коваль"]
    assert signers[after]["signers"] == ["Олена Ковальчук"]
    # A form from elsewhere changes nothing.
    assert client.post("/account/name", data={"name": "Хтось інший"}).status_code in (400, 403)
    assert 'class="who" title="Олена Ковальчук">Олена Ковальчук</a>' in client.get("/account").text
