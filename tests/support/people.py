"""Councils that exist in auth, and residents, moderators and admins with tokens."""

from __future__ import annotations

import pytest

from services.auth.councils.domain import create_council
from services.auth.models import db as auth_db
from tests.support.tokens import bearer, make_token

COUNCILS = ("kyiv", "oliivka")


def create_councils(auth_app) -> tuple[str, ...]:
    with auth_app.test_request_context("/"):
        for slug in COUNCILS:
            create_council(auth_db.session, slug=slug, name=slug.title(), default_language="uk")
    return COUNCILS


class People:
    """Access tokens for the people a petition or a poll meets, by name."""

    def __init__(self, auth_app) -> None:
        self.auth_app = auth_app

    def resident(self, n: int = 1, **claims) -> dict:
        defaults = {
            "name": f"Resident {n}",
            "email_hash": f"mailbox-{n}",
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
def councils(auth_app):
    """Councils that exist in auth: kyiv and oliivka."""
    return create_councils(auth_app)


@pytest.fixture
def people(auth_app):
    return People(auth_app)
