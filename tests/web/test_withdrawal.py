"""Withdrawing one's signature from the petition's page, where the council allows it."""

from __future__ import annotations

import pytest

from tests.petitions.conftest import open_petition
from tests.web.test_pages import csrf, register_and_confirm, sign_in

pytestmark = pytest.mark.usefixtures("councils")

WITHDRAW_FORM = 'action="/petitions/{}/withdraw"'


def signed(client, auth_app, people, allow_withdrawal: bool) -> int:
    """An open petition olena@example.org has signed through its page."""
    petition_id = open_petition(client, people)
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"signer_verification": "email", "allow_withdrawal": allow_withdrawal},
        headers=people.admin(),
    )
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert (
        client.post(f"/petitions/{petition_id}/sign", data={"csrf": csrf(page)}).status_code == 303
    )
    return petition_id


def test_a_signer_withdraws_after_confirming(client, auth_app, people):
    petition_id = signed(client, auth_app, people, allow_withdrawal=True)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert "You signed this petition on" in page.text
    # Behind a <details>: the button inside is the explicit confirmation.
    assert "<summary>Withdraw my signature</summary>" in page.text
    assert WITHDRAW_FORM.format(petition_id) in page.text
    assert "Yes, withdraw my signature" in page.text
    done = client.post(f"/petitions/{petition_id}/withdraw", data={"csrf": csrf(page)})
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/petitions/{petition_id}")
    after = client.get(done.headers["Location"] + "?lang=en").text
    assert "Your signature was withdrawn: it no longer counts." in after
    assert 'role="status"' in after and "You signed this petition on" not in after
    assert f'action="/petitions/{petition_id}/sign"' in after  # may sign again
    # Once more (from a page loaded before): nothing to withdraw, said on the page.
    again = client.post(f"/petitions/{petition_id}/withdraw?lang=en", data={"csrf": csrf(page)})
    assert again.status_code == 404 and 'role="alert"' in again.text
    assert "You have not signed this petition." in again.text


def test_no_withdrawal_where_the_council_does_not_allow_it(client, auth_app, people):
    petition_id = signed(client, auth_app, people, allow_withdrawal=False)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert "You signed this petition on" in page.text
    assert WITHDRAW_FORM.format(petition_id) not in page.text
    refused = client.post(f"/petitions/{petition_id}/withdraw?lang=en", data={"csrf": csrf(page)})
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    assert "This council does not let signatures be withdrawn." in refused.text
    assert "You signed this petition on" in client.get(f"/petitions/{petition_id}?lang=en").text
    forged = client.post(f"/petitions/{petition_id}/withdraw", data={"csrf": "guess"})
    assert forged.status_code == 403


def test_no_withdrawal_once_the_petition_has_closed(client, auth_app, people, petitions_app):
    from tests.petitions.conftest import make_due_date_pass

    petition_id = signed(client, auth_app, people, allow_withdrawal=True)
    make_due_date_pass(petitions_app, petition_id, "deadline_at")
    with petitions_app.app_context():
        from services.petitions.lifecycle import close_expired
        from services.petitions.models import db

        close_expired(db.session)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert "You signed this petition on" in page.text
    assert WITHDRAW_FORM.format(petition_id) not in page.text
