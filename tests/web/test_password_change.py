"""Changing the password on the account page: the rules beside the field from the start,
what is wrong beside its field, and after a change this browser stays signed in while
every other is signed out."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tests.auth.helpers import PASSWORD, login, messages
from tests.auth.test_access_withdrawals import withdrawals_read_at_every_request  # noqa: F401
from tests.web.test_everyday_gaps import RULES
from tests.web.test_pages import csrf, register_and_confirm, sign_in

pytestmark = pytest.mark.usefixtures("councils")
NEW = "a fresh and different passphrase"


def _error_of(page: str, field: str) -> str:
    return page.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]


def signed_in_resident(client, auth_app):
    register_and_confirm(client, auth_app)
    assert sign_in(client).status_code == 303
    return client.get("/account?lang=en")


def test_the_form_says_the_rules_before_the_first_try(client, auth_app):
    page = signed_in_resident(client, auth_app).text
    assert 'action="/account/password"' in page
    assert 'name="current_password"' in page and 'autocomplete="current-password"' in page
    assert 'name="new_password"' in page and 'autocomplete="new-password"' in page
    # Whose password it is, for a password manager to update the right entry.
    assert 'value="olena@example.org" autocomplete="username" hidden readonly' in page
    assert 'aria-describedby="new_password-hint"' in page
    assert f'<p class="muted" id="new_password-hint">{RULES}' in page
    assert "aria-invalid" not in page


def test_a_change_keeps_this_browser_signed_in_and_signs_out_every_other(client, auth_app):
    page = signed_in_resident(client, auth_app)
    elsewhere = Client(client.application)  # the same resident, on another device
    assert sign_in(elsewhere).status_code == 303
    assert "Олена Коваль" in elsewhere.get("/account?lang=en").text

    done = client.post(
        "/account/password?lang=en",
        data={"csrf": csrf(page), "current_password": PASSWORD, "new_password": NEW},
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/account")
    after = client.get("/account?lang=en")
    assert after.status_code == 200 and "Олена Коваль" in after.text
    assert "Your password is changed. Every other session is signed out." in after.text
    again = client.get("/account?lang=en")  # the notice is said once; the session goes on
    assert again.status_code == 200 and "Your password is changed." not in again.text

    away = elsewhere.get("/account?lang=en")
    assert away.status_code == 303 and "/login" in away.headers["Location"]
    assert login(client).status_code == 401 and login(client, password=NEW).status_code == 200
    assert len(messages(auth_app, "olena@example.org", "password_changed")) == 1


def test_what_is_wrong_is_said_beside_its_field(client, auth_app):
    token = csrf(signed_in_resident(client, auth_app))
    wrong = client.post(
        "/account/password?lang=en",
        data={"csrf": token, "current_password": "not it at all", "new_password": NEW},
    )
    assert wrong.status_code == 401 and "Олена Коваль" in wrong.text  # still signed in
    assert "The password is wrong." in _error_of(wrong.text, "current_password")
    assert 'aria-describedby="current_password-error" aria-invalid="true"' in wrong.text

    weak = client.post(
        "/account/password?lang=en",
        data={"csrf": token, "current_password": PASSWORD, "new_password": "qwerty123456"},
    )
    assert weak.status_code == 422
    assert "too easy to guess" in _error_of(weak.text, "new_password")
    # The rules and what was wrong this time both read with the field.
    assert 'aria-describedby="new_password-hint new_password-error"' in weak.text
    assert RULES in weak.text
    assert login(client).status_code == 200 and login(client, password=NEW).status_code == 401


def test_too_many_wrong_passwords_are_refused_beside_the_field(client, auth_app):
    token = csrf(signed_in_resident(client, auth_app))
    guess = {"csrf": token, "current_password": "a wrong guess", "new_password": NEW}
    for _ in range(10):
        assert client.post("/account/password?lang=en", data=guess).status_code == 401
    held = client.post("/account/password?lang=en", data={**guess, "current_password": PASSWORD})
    assert held.status_code == 429
    assert "Too many wrong passwords" in _error_of(held.text, "current_password")
    assert login(client).status_code == 429  # counted as failed sign-ins from this place
    elsewhere = {"REMOTE_ADDR": "198.51.100.9"}
    right = {"email": "olena@example.org", "password": PASSWORD}
    assert client.post("/api/auth/login", json=right, environ_base=elsewhere).status_code == 200


def test_a_form_from_another_site_changes_no_password(client, auth_app):
    signed_in_resident(client, auth_app)
    for forged in ({"csrf": "guess"}, {}):
        refused = client.post(
            "/account/password",
            data={**forged, "current_password": PASSWORD, "new_password": NEW},
        )
        assert refused.status_code == 403
    assert login(client).status_code == 200 and login(client, password=NEW).status_code == 401
    assert messages(auth_app, "olena@example.org", "password_changed") == []


def test_a_visitor_not_signed_in_is_sent_to_sign_in(client, auth_app):
    register_and_confirm(client, auth_app)
    token = csrf(client.get("/login?lang=en"))
    away = client.post(
        "/account/password",
        data={"csrf": token, "current_password": PASSWORD, "new_password": NEW},
    )
    assert away.status_code == 303 and "/login" in away.headers["Location"]
    assert login(client, password=NEW).status_code == 401
