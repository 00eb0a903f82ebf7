"""A council's rejected petitions with the reasons, where it publishes them."""

from __future__ import annotations

import pytest

from tests.petitions.conftest import open_petition, rejected_petition

pytestmark = pytest.mark.usefixtures("councils")


def test_the_council_page_links_its_rejected_petitions_and_why(client, people):
    rejected = rejected_petition(
        client,
        people,
        "Ліхтарі на вулиці Шевченка",
        "duplicate",
        "Така петиція вже збирає підписи.",
    )
    published = open_petition(client, people, title="Парк на Оболоні")
    home = client.get("/councils/kyiv?lang=en").text
    assert 'href="/councils/kyiv/rejected"' in home
    page = client.get("/councils/kyiv/rejected?lang=en")
    assert page.status_code == 200
    assert f'href="/petitions/{rejected}"' in page.text and "Ліхтарі на вулиці" in page.text
    assert "A duplicate of another petition" in page.text
    assert "Така петиція вже збирає підписи." in page.text
    assert f'href="/petitions/{published}"' not in page.text


def test_no_rejected_list_where_the_council_keeps_it_private(client, people):
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"rejected_public": False},
        headers=people.admin(),
    )
    assert 'href="/councils/kyiv/rejected"' not in client.get("/councils/kyiv?lang=en").text
    page = client.get("/councils/kyiv/rejected?lang=en")
    assert page.status_code == 403 and 'role="alert"' in page.text
    assert "This council does not publish its rejected petitions." in page.text
    assert client.get("/councils/nowhere/rejected").status_code == 404


def test_a_council_with_none_says_so(client):
    page = client.get("/councils/kyiv/rejected?lang=en")
    assert page.status_code == 200 and "This council has rejected no petitions." in page.text
