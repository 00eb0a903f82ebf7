"""Setting signatures aside from a petition's page (the council's moderators): by a time
window typed on the council's clocks or by an account, with a reason; and counting them
again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.petitions.conftest import open_petition
from tests.petitions.test_browsing import fold, sign
from tests.web.test_pages import csrf, register_and_confirm, sign_in, signed_in_with_role

pytestmark = pytest.mark.usefixtures("councils")
KYIV = ZoneInfo("Europe/Kyiv")
REASON = "Підписи з одного пристрою за хвилину."


def count(client, petition_id: int) -> int:
    return client.get(f"/api/petitions/petitions/{petition_id}").json["signatures"]


@pytest.fixture
def signed_three(client, people, petitions_app):
    petition_id = open_petition(client, people, threshold=10)
    for n in (1, 2, 3):
        sign(client, people, petition_id, n)
    fold(petitions_app)
    assert count(client, petition_id) == 3
    return petition_id


def test_a_moderator_sets_an_accounts_signature_aside_and_counts_it_again(
    client, auth_app, signed_three
):
    petition_id = signed_three
    signed_in_with_role(client, auth_app, "moderator@example.org")
    page = client.get(f"/petitions/{petition_id}?lang=en")
    html = page.get_data(as_text=True)
    assert "Signatures set aside" in html and "None: every signature counts." in html

    done = client.post(
        f"/petitions/{petition_id}/invalidations?lang=en",
        data={"csrf": csrf(page), "user_id": "r2", "reason": REASON},
    )
    assert done.status_code == 303 and done.headers["Location"].endswith(
        f"/petitions/{petition_id}"
    )
    assert count(client, petition_id) == 2
    html = client.get(f"/petitions/{petition_id}?lang=en").get_data(as_text=True)
    assert "The signatures are set aside: they no longer count." in html
    listed = html.split('id="invalidations-title"', 1)[1]
    assert "1 signature" in listed and REASON in listed and "by account r2" in listed

    revert_path = listed.split('action="', 1)[1].split('"', 1)[0]
    assert revert_path.endswith("/revert")
    again = client.post(revert_path + "?lang=en", data={"csrf": csrf(page)})
    assert again.status_code == 303 and count(client, petition_id) == 3
    html = client.get(f"/petitions/{petition_id}?lang=en").get_data(as_text=True)
    assert "Those signatures count again." in html and "Counted again since" in html
    # Counted again once: a second press is refused and changes nothing.
    twice = client.post(revert_path + "?lang=en", data={"csrf": csrf(page)})
    assert twice.status_code == 409 and count(client, petition_id) == 3


def test_a_time_window_is_typed_on_the_councils_clocks(
    client, auth_app, signed_three, petitions_app
):
    from services.petitions.models import Invalidation
    from services.petitions.models import db as petitions_db

    petition_id = signed_three
    signed_in_with_role(client, auth_app, "moderator@example.org")
    page = client.get(f"/petitions/{petition_id}")
    since = (datetime.now(KYIV) - timedelta(minutes=10)).replace(second=0, microsecond=0)
    done = client.post(
        f"/petitions/{petition_id}/invalidations",
        data={
            "csrf": csrf(page),
            "signed_from": since.strftime("%Y-%m-%dT%H:%M"),
            "reason": REASON,
        },
    )
    assert done.status_code == 303 and count(client, petition_id) == 0
    with petitions_app.app_context():
        recorded = petitions_db.session.query(Invalidation).one()
        assert recorded.signatures == 3
        sent = datetime.fromisoformat(recorded.criteria["signed_from"])
    assert sent == since.astimezone(UTC)  # Kyiv's wall clock, not UTC's


def test_a_refused_form_comes_back_as_typed_with_its_error(client, auth_app, signed_three):
    petition_id = signed_three
    signed_in_with_role(client, auth_app, "moderator@example.org")
    page = client.get(f"/petitions/{petition_id}?lang=en")
    url = f"/petitions/{petition_id}/invalidations?lang=en"
    # No criteria: nothing would say which signatures.
    none = client.post(url, data={"csrf": csrf(page), "reason": REASON})
    html = none.get_data(as_text=True)
    assert none.status_code == 422 and "Name a time window or an account." in html
    assert f">{REASON}</textarea>" in html and "<h1>" in html
    # A reason too short: said beside it, the panel open.
    short = client.post(url, data={"csrf": csrf(page), "user_id": "r1", "reason": "бот"})
    html = short.get_data(as_text=True)
    assert short.status_code == 422 and 'id="invalidate_reason-error"' in html
    assert 'value="r1"' in html and "<details open>\n      <summary>Set signatures aside" in html
    # A time Kyiv's clocks skip (the spring change): refused beside the field, not moved.
    skipped = client.post(
        url,
        data={"csrf": csrf(page), "signed_from": "2027-03-28T03:30", "reason": REASON},
    )
    html = skipped.get_data(as_text=True)
    assert skipped.status_code == 422 and 'id="invalidate_signed_from-error"' in html
    assert "skip this time" in html
    assert count(client, petition_id) == 3


def test_nobody_else_sets_signatures_aside(client, auth_app, people, signed_three):
    petition_id = signed_three
    url = f"/petitions/{petition_id}/invalidations?lang=en"
    body = {"user_id": "r1", "reason": REASON}
    # A resident: no such section, and the form sent anyway is refused.
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert "Set signatures aside" not in page.get_data(as_text=True)
    assert client.post(url, data={**body, "csrf": csrf(page)}).status_code == 403
    # A moderator of another council.
    client.post("/logout", data={"csrf": csrf(page)})
    signed_in_with_role(client, auth_app, "other@example.org", council="oliivka")
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert "Set signatures aside" not in page.get_data(as_text=True)
    assert client.post(url, data={**body, "csrf": csrf(page)}).status_code == 403
    # A form from another site (no token of this session).
    assert client.post(url, data=body).status_code in (400, 403)
    assert count(client, petition_id) == 3
