"""Petitions tests: councils that exist in auth, and residents and moderators with tokens."""

from __future__ import annotations

import pytest

from services.auth.councils.domain import create_council
from services.auth.models import db as auth_db
from tests.support.tokens import bearer, make_token


@pytest.fixture
def councils(auth_app):
    with auth_app.test_request_context("/"):
        for slug in ("kyiv", "oliivka"):
            create_council(auth_db.session, slug=slug, name=slug.title(), default_language="uk")
    return ("kyiv", "oliivka")


class People:
    """Access tokens for the people a petition meets, by name."""

    def __init__(self, auth_app) -> None:
        self.auth_app = auth_app

    def resident(self, n: int = 1, **claims) -> dict:
        defaults = {
            "name": f"Resident {n}",
            "phone_hash": f"phone-{n}",
            "phone_verified": True,
            "email_verified": True,
        }
        return bearer(make_token(self.auth_app, f"r{n}", **{**defaults, **claims}))

    def moderator(self, council: str = "kyiv", n: int = 1) -> dict:
        return bearer(
            make_token(
                self.auth_app, f"m{council}{n}", name="Moderator", roles={council: ["moderator"]}
            )
        )

    def admin(self, council: str = "kyiv") -> dict:
        return bearer(
            make_token(self.auth_app, f"a{council}", name="Admin", roles={council: ["admin"]})
        )


@pytest.fixture
def people(auth_app):
    return People(auth_app)


TEXT = "Просимо встановити ліхтарі на вулиці Шевченка, бо ввечері там темно й небезпечно."


def open_petition(client, people, council="kyiv", threshold=None) -> int:
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
        json={"council": council, "title": "Ліхтарі на вулиці Шевченка", "text": TEXT},
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
