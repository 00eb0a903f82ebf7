"""A council's moderators download a petition's signers (CSV) from its page."""

from __future__ import annotations

import csv
import io

import pytest
from werkzeug.test import Client

from tests.petitions.conftest import add_signers, open_petition
from tests.web.test_pages import register_and_confirm, sign_in, signed_in_with_role

pytestmark = pytest.mark.usefixtures("councils")


def test_a_moderator_downloads_the_signers_as_they_are_read(
    client, auth_app, people, petitions_app
):
    petition_id = open_petition(client, people)
    add_signers(petitions_app, petition_id, 2501)
    signed_in_with_role(client, auth_app, "moderator@example.org")
    page = client.get(f"/petitions/{petition_id}?lang=en").text
    link = f'href="/petitions/{petition_id}/signers.csv"'
    assert link in page and "Download the signers (CSV)" in page
    response = client.get(f"/petitions/{petition_id}/signers.csv?lang=hu", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response.headers["Cache-Control"]
    chunks = iter(response.response)
    first = next(chunks)
    rest = b"".join(chunks)
    response.close()
    # Handed on a part at a time as the API writes it, not read whole first.
    assert first and rest
    rows = list(csv.reader(io.StringIO((first + rest).decode())))
    assert rows[0][:2] == ["Név", "Aláírás ideje (UTC)"]  # in the page's language
    assert len(rows) == 2502 and rows[-1][0] == "Підписант 2501"


def test_only_the_councils_moderators_get_the_signers(client, auth_app, people):
    petition_id = open_petition(client, people)
    url = f"/petitions/{petition_id}/signers.csv"
    away = Client(client.application).get(url)
    assert away.status_code == 303 and "/login?next=" in away.headers["Location"]
    register_and_confirm(client, auth_app)
    sign_in(client)
    assert f'href="{url}"' not in client.get(f"/petitions/{petition_id}?lang=en").text
    refused = client.get(url + "?lang=en")
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    assert refused.mimetype == "text/html" and f'href="/petitions/{petition_id}"' in refused.text
    elsewhere = Client(client.application)
    signed_in_with_role(elsewhere, auth_app, "oliivka@example.org", council="oliivka")
    assert elsewhere.get(url).status_code == 403
