"""Changing one's password while signed in: the current one is the credential, not the
token; every other session ends, the caller's goes on, and the address is told."""

from __future__ import annotations

import jwt
import pytest

from tests.auth.helpers import (
    PASSWORD,
    bearer,
    confirmed_resident,
    login,
    messages,
    register,
)
from tests.auth.test_access_withdrawals import (  # noqa: F401 - a fixture
    signed_in,
    withdrawals_read_at_every_request,
)
from tests.conftest import TEST_DB
from tests.support.concurrency import at_once

pytestmark = pytest.mark.usefixtures("councils")
CHANGE = "/api/auth/password/change"
NEW = "a fresh and different passphrase"


def change(client, pair: dict | None, current=PASSWORD, new=NEW, **kwargs):
    """Ask auth to change the password with `pair`'s access token (answers in English)."""
    headers = {"Accept-Language": "en", **(bearer(pair) if pair else {})}
    body = {"current_password": current, "new_password": new}
    return client.post(CHANGE, json=body, headers=headers, **kwargs)


def test_a_signed_in_resident_changes_the_password(client, auth_app):
    here = confirmed_resident(client, auth_app)  # this session goes on
    phone = login(client).json  # another session, on a phone say: it ends
    changed = change(client, here)
    assert changed.status_code == 200, changed.json
    fresh = changed.json
    assert fresh["token_type"] == "Bearer" and fresh["expires_in"] == 900
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["sub"]

    # Only the new password signs in.
    assert login(client).status_code == 401
    assert login(client, password=NEW).status_code == 200
    # Every other session ends: its refresh token and its access token are refused...
    refreshed = client.post(
        "/api/auth/token/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert not signed_in(client, phone)
    assert not signed_in(client, here)  # the caller's old pair went with them
    # ...and the caller's goes on with the pair it got back.
    assert signed_in(client, fresh)
    assert client.get("/api/auth/me", headers=bearer(fresh)).status_code == 200
    renewed = client.post("/api/auth/token/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert renewed.status_code == 200

    # The address is told, in the account's language, with the way to undo it.
    [notice] = messages(auth_app, "olena@example.org", "password_changed")
    assert notice.locale == "uk" and notice.user_id is not None
    assert "Олена Коваль" in notice.text_body
    assert "/password/forgot?lang=uk" in notice.text_body
    assert "/password/forgot?lang=uk" in notice.html_body


def test_the_notice_to_an_address_never_confirmed_does_not_carry_the_name(client, auth_app):
    assert register(client, name="Visit evil.example now").status_code == 202
    pair = login(client).json
    assert change(client, pair).status_code == 200
    [notice] = messages(auth_app, "olena@example.org", "password_changed")
    assert "evil.example" not in notice.text_body + notice.html_body + notice.subject


def test_a_wrong_current_password_changes_nothing(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    wrong = change(client, pair, current="not the password")
    assert wrong.status_code == 401 and wrong.content_type == "application/problem+json"
    assert wrong.json["type"] == "urn:viche:problem:invalid-credentials"
    assert wrong.json["errors"] == {"current_password": ["The password is wrong."]}
    assert login(client).status_code == 200 and login(client, password=NEW).status_code == 401
    assert signed_in(client, pair)  # nobody was signed out
    assert messages(auth_app, "olena@example.org", "password_changed") == []


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("short", "Use at least 10 characters."),
        ("qwerty123456", "This password is too easy to guess. Choose another."),
        ("olena@example.org", "This password is too easy to guess. Choose another."),
        ("x" * 257, "Use at most 256 characters."),
    ],
)
def test_a_new_password_meets_the_rules_of_registration(client, auth_app, new, reason):
    pair = confirmed_resident(client, auth_app)
    weak = change(client, pair, new=new)
    assert weak.status_code == 422
    assert weak.json["type"] == "urn:viche:problem:validation-failed"
    assert weak.json["errors"] == {"new_password": [reason]}
    assert login(client).status_code == 200 and signed_in(client, pair)
    assert messages(auth_app, "olena@example.org", "password_changed") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"current_password": PASSWORD},
        {"new_password": NEW},
        {"current_password": 5, "new_password": NEW},
        {"current_password": "x" * 1001, "new_password": NEW},
        {"current_password": PASSWORD, "new_password": NEW, "user_id": 1},
    ],
)
def test_bad_bodies_are_refused_field_by_field(client, auth_app, body):
    pair = confirmed_resident(client, auth_app)
    refused = client.post(CHANGE, json=body, headers=bearer(pair))
    assert refused.status_code == 422 and refused.json["errors"]
    assert login(client).status_code == 200


def test_without_a_token_nothing_is_read_or_changed(client, auth_app):
    confirmed_resident(client, auth_app)
    anonymous = change(client, None)
    assert anonymous.status_code == 401 and "errors" not in anonymous.json
    forged = client.post(
        CHANGE,
        json={"current_password": PASSWORD, "new_password": NEW},
        headers={"Authorization": "Bearer not.a.token"},
    )
    assert forged.status_code == 401
    assert login(client).status_code == 200


def test_a_stolen_access_token_neither_changes_nor_guesses_the_password(client, auth_app):
    """The thief has the token, not the password: each guess counts as a failed sign-in
    of the account from the thief's place, and after ten even the right one is refused
    there (as sign-in is), while the resident elsewhere goes on."""
    stolen = confirmed_resident(client, auth_app)
    thief = {"REMOTE_ADDR": "203.0.113.7"}
    for n in range(10):
        guess = change(client, stolen, current=f"guess number {n}", environ_base=thief)
        assert guess.status_code == 401
    held = change(client, stolen, environ_base=thief)
    assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0
    assert held.content_type == "application/problem+json"
    # Counted as sign-ins are: the thief cannot go on guessing through the login either.
    assert login(client).status_code == 200  # the test's own place is not the thief's
    right = {"email": "olena@example.org", "password": PASSWORD}
    assert client.post("/api/auth/login", json=right, environ_base=thief).status_code == 429
    # Nothing changed, nobody was signed out; the resident changes it from home.
    assert signed_in(client, stolen)
    home = {"REMOTE_ADDR": "198.51.100.9"}
    assert change(client, stolen, environ_base=home).status_code == 200
    assert not signed_in(client, stolen)  # and the thief's token is taken back


def test_failed_sign_ins_count_against_a_change_too(client, auth_app):
    """One count for guesses at the password, wherever they are made."""
    pair = confirmed_resident(client, auth_app)
    there = {"REMOTE_ADDR": "203.0.113.8"}
    for _ in range(10):
        guess = {"email": "olena@example.org", "password": "guess guess guess"}
        assert client.post("/api/auth/login", json=guess, environ_base=there).status_code == 401
    assert change(client, pair, environ_base=there).status_code == 429
    assert login(client, password=NEW).status_code == 401


def test_a_deleted_account_changes_no_password(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    deleted = client.delete("/api/auth/me", json={"password": PASSWORD}, headers=bearer(pair))
    assert deleted.status_code == 204
    assert change(client, pair).status_code == 401


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent requests need a server database")
def test_two_changes_at_once_take_turns(client, gateway, auth_app):
    """Two sessions changing the password at the same moment with the same current one:
    the second checks it against the password the first set, and is refused."""
    first, second = confirmed_resident(client, auth_app), login(client).json
    body = {"current_password": PASSWORD}
    statuses = at_once(
        gateway,
        [
            ("POST", CHANGE, {**body, "new_password": NEW}, bearer(first)),
            ("POST", CHANGE, {**body, "new_password": "another new passphrase"}, bearer(second)),
        ],
    )
    assert sorted(statuses) == [200, 401]
    works = [login(client, password=p).status_code for p in (NEW, "another new passphrase")]
    assert sorted(works) == [200, 401]
    assert len(messages(auth_app, "olena@example.org", "password_changed")) == 1
