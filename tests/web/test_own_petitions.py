"""A resident's own petitions through the pages: drafts saved, edited, submitted and
deleted; My petitions; and what moderators are not offered on their own petitions."""

from __future__ import annotations

import html

import pytest
from werkzeug.test import Client

from tests.petitions.conftest import TEXT, open_petition, rejected_petition
from tests.petitions.test_sponsors import submitted_with_sponsors
from tests.web.test_pages import csrf, register_and_confirm, sign_in, signed_in_with_role

pytestmark = pytest.mark.usefixtures("councils")
TITLE = "Ліхтарі біля школи"


def authors_may_file_with_email(client, people) -> None:
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"author_verification": "email"},
        headers=people.admin(),
    )


def saved_draft(client, title=TITLE) -> int:
    """A draft saved from the new-petition form by the signed-in visitor; its id."""
    form = client.get("/petitions/new?lang=en")
    body = {"csrf": csrf(form), "council": "kyiv", "title": title, "text": TEXT}
    saved = client.post("/petitions/new?lang=en", data={**body, "action": "draft"})
    assert saved.status_code == 303, saved.text
    return int(saved.headers["Location"].rsplit("/", 1)[1])


def test_a_draft_is_saved_found_again_edited_and_submitted(client, auth_app, people):
    existing = open_petition(client, people, title="Ліхтарі на вулиці Шевченка")
    authors_may_file_with_email(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    form = client.get("/petitions/new?lang=en").text
    assert ">Save as draft</button>" in form and ">Submit</button>" in form
    petition_id = saved_draft(client)
    page = client.get(f"/petitions/{petition_id}?lang=en").text
    assert "The draft is saved." in page and "Your draft" in page and ">Draft</p>" in page
    assert 'id="signature-count"' not in page  # no count before it takes signatures
    # A draft is not checked for similar petitions until it is submitted.
    assert f"/petitions/{existing}" not in page

    mine = client.get("/petitions/mine?lang=en")
    assert mine.status_code == 200 and "no-store" in mine.headers["Cache-Control"]
    assert TITLE in mine.text and ">Draft</p>" in mine.text
    assert "Kyiv · " in mine.text  # the council by its name, not its address
    assert 'href="/petitions/mine"' in mine.text  # the header menu
    edit_link = f"/petitions/{petition_id}?edit=1#edit"
    assert f'href="{edit_link}"' in mine.text
    assert 'href="/petitions/mine"' in client.get("/account?lang=en").text

    # The edit form holds the draft as stored; refused, it comes back as typed.
    editing = client.get(f"/petitions/{petition_id}?edit=1&lang=en").text
    assert '<details id="edit" open>' in editing
    assert f'value="{TITLE}"' in editing and f">{html.escape(TEXT)}</textarea>" in editing
    url = f"/petitions/{petition_id}/edit?lang=en"
    short = client.post(url, data={"csrf": csrf(mine), "title": "Ні", "text": TEXT + " Дуже."})
    assert short.status_code == 422
    assert 'id="edit_title-error"' in short.text and 'aria-invalid="true"' in short.text
    assert 'value="Ні"' in short.text and f"{TEXT} Дуже.</textarea>" in short.text
    assert '<details id="edit" open>' in short.text
    kept = client.get(f"/api/petitions/petitions/{petition_id}").status_code
    assert kept == 404  # still a draft: nobody else sees it
    changed = "Ліхтарі біля школи на Лісовій"
    saved = client.post(url, data={"csrf": csrf(mine), "title": changed, "text": TEXT})
    assert saved.status_code == 303
    page = client.get(saved.headers["Location"] + "?lang=en").text
    assert "The draft is saved." in page and changed in page

    # Submitting shows the similar petitions first, as the new form does.
    submit = f"/petitions/{petition_id}/submit?lang=en"
    first = client.post(submit, data={"csrf": csrf(mine)})
    assert first.status_code == 200 and f'href="/petitions/{existing}"' in first.text
    assert "Similar petitions exist" in first.text and 'name="checked" value="1"' in first.text
    assert ">Draft</p>" in client.get(f"/petitions/{petition_id}?lang=en").text
    done = client.post(submit, data={"csrf": csrf(mine), "checked": "1"})
    assert done.status_code == 303
    page = client.get(done.headers["Location"] + "?lang=en").text
    assert "The petition is submitted to the council&#39;s moderators." in page
    assert "Awaiting moderation" in page and "Your draft" not in page
    mine = client.get("/petitions/mine?lang=en").text
    assert "Awaiting moderation" in mine and edit_link not in mine


def test_a_draft_is_deleted_after_a_second_step_and_only_by_its_author(client, auth_app, people):
    authors_may_file_with_email(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    petition_id = saved_draft(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert "<summary>Delete the draft</summary>" in page.text
    assert "Yes, delete the draft</button>" in page.text

    # Another resident cannot delete it, nor learn that it exists; no form from elsewhere.
    attacker = Client(client.application)
    register_and_confirm(attacker, auth_app, "petro@example.org")
    sign_in(attacker, "petro@example.org")
    theirs = attacker.get("/petitions/mine?lang=en")
    assert TITLE not in theirs.text
    refused = attacker.post(f"/petitions/{petition_id}/delete", data={"csrf": csrf(theirs)})
    assert refused.status_code == 404
    assert client.post(f"/petitions/{petition_id}/delete", data={"csrf": "guess"}).status_code == (
        403
    )
    assert TITLE in client.get("/petitions/mine?lang=en").text

    deleted = client.post(f"/petitions/{petition_id}/delete?lang=en", data={"csrf": csrf(page)})
    assert deleted.status_code == 303 and deleted.headers["Location"].endswith("/petitions/mine")
    mine = client.get("/petitions/mine?lang=en").text
    assert "The draft is deleted." in mine and TITLE not in mine
    assert "You have filed no petitions yet." in mine
    assert client.get(f"/petitions/{petition_id}?lang=en").status_code == 404


def test_a_submitted_petition_is_not_deleted_through_a_stale_form(client, auth_app, people):
    authors_may_file_with_email(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    petition_id = saved_draft(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    client.post(f"/petitions/{petition_id}/submit", data={"csrf": csrf(page), "checked": "1"})
    late = client.post(f"/petitions/{petition_id}/delete?lang=en", data={"csrf": csrf(page)})
    assert late.status_code == 409 and 'role="alert"' in late.text
    assert "Only a draft can be deleted." in late.text


def test_my_petitions_is_for_signed_in_residents(client):
    away = client.get("/petitions/mine")
    assert away.status_code == 303
    assert away.headers["Location"].endswith("/login?next=/petitions/mine")
    assert 'href="/petitions/mine"' not in client.get("/petitions?lang=en").text


def test_a_moderator_is_not_offered_decisions_on_their_own_petition(client, auth_app, people):
    authors_may_file_with_email(client, people)
    signed_in_with_role(client, auth_app, "moderator@example.org")
    petition_id = saved_draft(client, "Моя власна петиція про лавки")
    page = client.get(f"/petitions/{petition_id}?lang=en")
    client.post(f"/petitions/{petition_id}/submit", data={"csrf": csrf(page), "checked": "1"})
    queue = client.get("/councils/kyiv/moderation?lang=en").text
    assert f"/councils/kyiv/petitions/{petition_id}/approve" not in queue
    assert f"/councils/kyiv/petitions/{petition_id}/reject" not in queue
    assert "Another moderator of the council must decide on your own petition." in queue
    # A form sent anyway is refused by the API, and the queue says why.
    forced = client.post(
        f"/councils/kyiv/petitions/{petition_id}/approve?lang=en", data={"csrf": csrf(page)}
    )
    assert forced.status_code == 403 and 'role="alert"' in forced.text
    approved = client.post(
        f"/api/petitions/petitions/{petition_id}/approve", headers=people.moderator(n=2)
    )
    assert approved.status_code == 200
    own = client.get(f"/petitions/{petition_id}?lang=en").text
    assert "take-down" not in own and "Download the signers" in own


def test_a_sponsor_link_says_what_became_of_its_petition(client, people):
    petition_id, token = submitted_with_sponsors(client, people, needed=1)
    link = f"/petitions/{petition_id}/sponsor?token={token}&lang=en"
    client.post(
        f"/api/petitions/petitions/{petition_id}/sponsors",
        json={"token": token},
        headers=people.resident(1),
    )
    waiting = client.get(link).text
    assert "awaits the council's moderators" in waiting and "Back this petition" not in waiting
    client.post(f"/api/petitions/petitions/{petition_id}/approve", headers=people.moderator())
    opened = client.get(link).text
    assert "Collecting signatures" in opened and f'href="/petitions/{petition_id}"' in opened
    assert "Back this petition" not in opened
    client.post(
        f"/api/petitions/petitions/{petition_id}/take-down",
        json={"reason": "Порушує правила"},
        headers=people.moderator(),
    )
    taken = client.get(link)
    assert taken.status_code == 200 and "Taken down" in taken.text
    assert "took it down" in taken.text and "Back this petition" not in taken.text
    assert "Сквер замість парковки" not in taken.text and TEXT not in taken.text
    assert f'href="/petitions/{petition_id}"' not in taken.text


def test_a_sponsor_link_of_a_rejected_petition_keeps_the_councils_reasons(client, people):
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"rejected_public": False},
        headers=people.admin(),
    )
    petition_id, token = submitted_with_sponsors(client, people, needed=1)
    client.post(
        f"/api/petitions/petitions/{petition_id}/sponsors",
        json={"token": token},
        headers=people.resident(1),
    )
    client.post(
        f"/api/petitions/petitions/{petition_id}/reject",
        json={"reason": "duplicate", "explanation": "Така вже збирає підписи."},
        headers=people.moderator(),
    )
    page = client.get(f"/petitions/{petition_id}/sponsor?token={token}&lang=en").text
    assert "rejected it." in page and "Rejected" in page
    assert "A duplicate" not in page and "Back this petition" not in page


def test_the_rejected_list_says_when_each_was_rejected(client, people):
    rejected_petition(client, people, "Ліхтарі на вулиці Шевченка", "duplicate", "Така вже є.")
    page = client.get("/councils/kyiv/rejected?lang=en").text
    assert "Rejected on " in page


def test_a_signed_in_visitors_pages_are_kept_by_no_cache(client, auth_app, people):
    """A page shown to a signed-in visitor holds what is theirs (their draft, their
    receipt, the session's CSRF token): no cache in front may keep it for the next
    visitor, even when the page changed nothing in the session."""
    authors_may_file_with_email(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    petition_id = saved_draft(client)
    client.get(f"/petitions/{petition_id}?lang=en")  # the notice is taken: nothing changes
    for path in (f"/petitions/{petition_id}?lang=en", "/petitions?lang=en", "/?lang=en"):
        page = client.get(path)
        assert page.status_code == 200 and "Set-Cookie" not in page.headers
        assert "no-store" in page.headers["Cache-Control"]
        assert "private" in page.headers["Cache-Control"]
        assert "Cookie" in page.headers.get("Vary", "")


def test_a_title_that_reads_as_other_text_is_refused_beside_its_field(client, auth_app, people):
    """The form posts to the API; its refusal stands beside the title, as typed."""
    authors_may_file_with_email(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    form = client.get("/petitions/new?lang=en")
    spoof = "Bidi \u202etxt.exe\u202c"
    body = {"csrf": csrf(form), "council": "kyiv", "title": spoof, "text": TEXT}
    refused = client.post("/petitions/new?lang=en", data={**body, "action": "draft"})
    assert refused.status_code == 422
    error = refused.text.split('id="title-error"', 1)[1].split("</p>", 1)[0]
    assert "Write one line, without line breaks or invisible control characters." in error
    assert f'value="{spoof}"' in refused.text
    assert "Bidi" not in client.get("/petitions/mine?lang=en").text  # nothing was saved
