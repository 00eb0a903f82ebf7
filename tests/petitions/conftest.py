"""Petitions tests: councils that exist in auth, and residents and moderators with tokens."""

from __future__ import annotations

TEXT = "Просимо встановити ліхтарі на вулиці Шевченка, бо ввечері там темно й небезпечно."


def open_petition(
    client, people, council="kyiv", threshold=None, title="Ліхтарі на вулиці Шевченка"
) -> int:
    """A petition filed, submitted and approved: collecting signatures."""
    if threshold is not None:
        response = client.put(
            f"/api/petitions/councils/{council}/policy",
            json={"threshold": threshold},
            headers=people.admin(council),
        )
        assert response.status_code == 200, response.json
    author = people.resident(100)
    created = client.post(
        "/api/petitions/petitions",
        json={"council": council, "title": title, "text": TEXT},
        headers=author,
    )
    assert created.status_code == 201, created.json
    petition_id = created.json["id"]
    assert (
        client.post(f"/api/petitions/petitions/{petition_id}/submit", headers=author).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/petitions/petitions/{petition_id}/approve", headers=people.moderator(council)
        ).status_code
        == 200
    )
    return petition_id
