"""Sponsors before moderation, through the pages: the author's link, the sponsor page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from werkzeug.test import Client

from tests.petitions.conftest import TEXT
from tests.web.test_pages import csrf, register_and_confirm, sign_in

pytestmark = pytest.mark.usefixtures("councils")


def filed_collecting_sponsors(client, auth_app, people) -> tuple[int, str]:
    """A petition filed through the page by olena@example.org where two sponsors are
    needed; its id and the sponsor page's address (path and query) from its page."""
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"author_verification": "email", "signer_verification": "email", "sponsors_needed": 2},
        headers=people.admin(),
    )
    register_and_confirm(client, auth_app)
    sign_in(client)
    form = client.get("/petitions/new?lang=en")
    body = {"csrf": csrf(form), "council": "kyiv", "title": "Ліхтарі біля школи", "text": TEXT}
    filed = client.post("/petitions/new?lang=en", data=body)
    assert filed.status_code == 303
    page = client.get(filed.headers["Location"] + "?lang=en").text
    assert "Collecting sponsors" in page and "Sponsors: 0 of 2" in page
    link = page.split('id="sponsor-link" type="url" value="')[1].split('"')[0]
    assert 'for="sponsor-link"' in page and "readonly" in page
    shared = urlsplit(link.replace("&amp;", "&"))
    petition_id = int(filed.headers["Location"].rsplit("/", 1)[1])
    assert shared.path == f"/petitions/{petition_id}/sponsor"
    return petition_id, f"{shared.path}?{shared.query}"


def test_residents_back_a_petition_through_its_authors_link(client, auth_app, people):
    petition_id, sponsor_page = filed_collecting_sponsors(client, auth_app, people)
    # The author is not offered to back their own petition.
    own = client.get(sponsor_page + "&lang=en").text
    assert "Back this petition</button>" not in own and 'id="sponsor-link"' in own

    visitor = Client(client.application)  # signed out: sent to sign in, and back here
    page = visitor.get(sponsor_page + "&lang=en")
    assert page.status_code == 200 and "Ліхтарі біля школи" in page.text
    assert "Sponsors: 0 of 2" in page.text and "Sign in to back this petition" in page.text
    assert "/login?next=" in page.text and "token%3D" in page.text
    register_and_confirm(visitor, auth_app, "petro@example.org")
    came_back = sign_in(visitor, "petro@example.org", next_path=sponsor_page.replace("?", "%3F"))
    assert came_back.headers["Location"] == sponsor_page
    page = visitor.get(sponsor_page + "&lang=en")
    assert "Back this petition</button>" in page.text
    token = sponsor_page.split("token=")[1]
    backed = visitor.post(
        f"/petitions/{petition_id}/sponsor?lang=en", data={"csrf": csrf(page), "token": token}
    )
    assert backed.status_code == 303
    thanks = visitor.get(backed.headers["Location"] + "&lang=en").text
    assert "Thank you: you back this petition." in thanks and "Sponsors: 1 of 2" in thanks
    assert "Back this petition</button>" not in thanks
    again = visitor.post(
        f"/petitions/{petition_id}/sponsor?lang=en", data={"csrf": csrf(page), "token": token}
    )
    assert again.status_code == 409 and 'role="alert"' in again.text
    assert "You support this petition already." in again.text
    assert "Sponsors: 1 of 2" in client.get(f"/petitions/{petition_id}?lang=en").text

    # The second sponsor sends it to the moderators: the link then says so.
    third = Client(client.application)
    register_and_confirm(third, auth_app, "maria@example.org")
    sign_in(third, "maria@example.org")
    page = third.get(sponsor_page + "&lang=en")
    third.post(f"/petitions/{petition_id}/sponsor", data={"csrf": csrf(page), "token": token})
    moved = third.get(sponsor_page + "&lang=en").text
    assert "This petition is no longer collecting sponsors." in moved
    assert "Awaiting moderation" in moved and "Back this petition</button>" not in moved
    late = third.post(
        f"/petitions/{petition_id}/sponsor?lang=en", data={"csrf": csrf(page), "token": token}
    )
    assert late.status_code == 409 and "This petition is not collecting sponsors." in late.text


def test_a_wrong_sponsor_link_is_refused_clearly(client, auth_app, people):
    petition_id, sponsor_page = filed_collecting_sponsors(client, auth_app, people)
    visitor = Client(client.application)
    wrong = visitor.get(f"/petitions/{petition_id}/sponsor?token=guessed&lang=en")
    assert wrong.status_code == 404 and 'role="alert"' in wrong.text
    assert "Check that the link is complete" in wrong.text and "Ліхтарі" not in wrong.text
    register_and_confirm(visitor, auth_app, "petro@example.org")
    sign_in(visitor, "petro@example.org")
    page = visitor.get(sponsor_page + "&lang=uk")
    forged = visitor.post(
        f"/petitions/{petition_id}/sponsor?lang=en", data={"csrf": csrf(page), "token": "guessed"}
    )
    assert forged.status_code in (403, 404) and 'role="alert"' in forged.text
    forms = visitor.post(f"/petitions/{petition_id}/sponsor", data={"csrf": "guess"})
    assert forms.status_code == 403
