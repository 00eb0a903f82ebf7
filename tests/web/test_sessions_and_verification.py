"""A session that has ended, and verifications made while signed in: the pages follow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.auth.helpers import PASSWORD, link_token, messages
from tests.petitions.conftest import TEXT, open_petition
from tests.support.tokens import make_token
from tests.web.test_pages import csrf, register_and_confirm, sign_in

pytestmark = pytest.mark.usefixtures("councils")
EMAIL = "olena@example.org"
CSRF = "the form's token from before"


def register_only(client, email=EMAIL):
    """An account whose address is not confirmed yet, signed in on `client`."""
    form = client.get("/register?lang=en")
    data = {"csrf": csrf(form), "name": "Olena", "email": email, "phone": "050 123 4567"}
    assert client.post("/register", data={**data, "password": PASSWORD}).status_code == 200
    assert sign_in(client, email).status_code == 303


def confirm_in_another_tab(client, auth_app, email=EMAIL):
    token = link_token(messages(auth_app, email, "confirm_email")[-1].text_body)
    assert client.post("/api/auth/email/confirm", json={"token": token}).status_code == 200


def ended_session(client, auth_app):
    """The cookie of a visitor who comes back after their session ended: the access
    token has expired and the refresh token no longer works (signed out elsewhere)."""
    pair = client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD}).json
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    expired = make_token(auth_app, str(me.json["id"]), ttl=timedelta(minutes=-5))
    ended = client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert ended.status_code == 204
    secret = client.application.apps["web"].config["SECRET_KEY"]
    cookie = URLSafeTimedSerializer(secret, salt="viche.web.session").dumps(
        {"access": expired, "refresh": pair["refresh_token"], "name": "Олена Коваль", "csrf": CSRF}
    )
    client.set_cookie("viche_session", cookie, domain="localhost")


def test_a_visitor_whose_session_ended_sees_public_pages_and_signs_in_to_act(
    client, auth_app, people
):
    petition_id = open_petition(client, people, title="Ліхтарі на вулиці Шевченка")
    register_and_confirm(client, auth_app)
    ended_session(client, auth_app)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert page.status_code == 200 and "Ліхтарі на вулиці Шевченка" in page.text
    assert "Олена Коваль" not in page.text  # signed out: the session is cleared
    assert "Sign in to sign this petition" in page.text

    ended_session(client, auth_app)  # a form loaded before the session ended
    signed = client.post(
        f"/petitions/{petition_id}/sign",
        data={"csrf": CSRF},
        headers={"Referer": f"http://localhost/petitions/{petition_id}"},
    )
    assert signed.status_code == 303
    assert signed.headers["Location"].endswith(f"/login?next=/petitions/{petition_id}")
    ended_session(client, auth_app)
    account = client.get("/account")
    assert account.status_code == 303 and account.headers["Location"].endswith(
        "/login?next=/account"
    )


def test_an_address_confirmed_in_another_tab_counts_at_once(client, auth_app, people):
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"author_verification": "email"},
        headers=people.admin(),
    )
    register_only(client)
    form = client.get("/petitions/new?lang=en")
    body = {"csrf": csrf(form), "council": "kyiv", "title": "Ліхтарі біля школи", "text": TEXT}
    refused = client.post("/petitions/new?lang=en", data={**body, "checked": "1"})
    assert refused.status_code == 422 and "Confirm your email address first." in refused.text

    confirm_in_another_tab(client, auth_app)
    filed = client.post("/petitions/new?lang=en", data={**body, "checked": "1"})
    assert filed.status_code == 303 and "/petitions/" in filed.headers["Location"]
