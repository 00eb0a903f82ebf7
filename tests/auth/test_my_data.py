"""A resident changes their address or number, takes their data, deletes the account."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from services.auth.accounts.models import User
from services.auth.messaging.models import OutboxMessage
from services.auth.models import db
from tests.auth.helpers import (
    PASSWORD,
    PHONE,
    age_codes,
    bearer,
    confirmed_resident,
    link_token,
    login,
    messages,
    sms_code,
)


def verify_phone(client, auth_app, pair, phone=PHONE):
    assert client.post("/api/auth/phone/code", headers=bearer(pair)).status_code == 202
    code = sms_code(auth_app, phone)
    response = client.post("/api/auth/phone/verify", json={"code": code}, headers=bearer(pair))
    assert response.status_code == 200, response.json


def test_a_new_address_counts_only_once_confirmed(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    wrong = client.post(
        "/api/auth/me/email",
        json={"email": "new@example.org", "password": "no"},
        headers=bearer(pair),
    )
    assert wrong.status_code == 401
    response = client.post(
        "/api/auth/me/email",
        json={"email": "new@example.org", "password": PASSWORD},
        headers=bearer(pair),
    )
    assert response.status_code == 202
    me = client.get("/api/auth/me", headers=bearer(pair)).json
    assert me["email"] == "olena@example.org" and me["pending_email"] == "new@example.org"
    token = link_token(messages(auth_app, "new@example.org", "confirm_email")[0].text_body)
    confirm = {"token": token, "password": PASSWORD}
    assert client.post("/api/auth/email/confirm", json=confirm).status_code == 200
    assert login(client, "new@example.org").status_code == 200
    assert login(client, "olena@example.org").status_code == 401


def test_an_account_cannot_fill_a_strangers_mailbox_by_changing_its_address(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    change = {"email": "stranger@example.net", "password": PASSWORD}
    for _ in range(5):  # a typo or two mended, and more
        response = client.post("/api/auth/me/email", json=change, headers=bearer(pair))
        assert response.status_code == 202
    refused = client.post("/api/auth/me/email", json=change, headers=bearer(pair))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert len(messages(auth_app, "stranger@example.net")) == 5


def test_an_address_of_another_account_is_not_revealed(client, auth_app):
    confirmed_resident(client, auth_app, "other@example.org")
    pair = confirmed_resident(client, auth_app)
    response = client.post(
        "/api/auth/me/email",
        json={"email": "other@example.org", "password": PASSWORD},
        headers=bearer(pair),
    )
    assert response.status_code == 202
    assert [m.template for m in messages(auth_app, "other@example.org")] == ["confirm_email"]


def test_asking_for_the_address_in_use_is_refused_and_changes_nothing(client, auth_app):
    """Nothing would be sent or wait to be confirmed: not "check the new mailbox"."""
    pair = confirmed_resident(client, auth_app)
    change = {"email": "new@example.org", "password": PASSWORD}
    assert client.post("/api/auth/me/email", json=change, headers=bearer(pair)).status_code == 202
    for same in ("olena@example.org", "Olena@EXAMPLE.org"):  # as addresses are normalised
        change = {"email": same, "password": PASSWORD}
        refused = client.post("/api/auth/me/email?lang=en", json=change, headers=bearer(pair))
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
        assert refused.json["errors"] == {"email": ["This is already your address."]}
    # The password is asked for first, as for any change.
    change = {"email": "olena@example.org", "password": "not it"}
    assert client.post("/api/auth/me/email", json=change, headers=bearer(pair)).status_code == 401
    me = client.get("/api/auth/me", headers=bearer(pair)).json
    assert me["email"] == "olena@example.org" and me["pending_email"] == "new@example.org"
    assert [m.template for m in messages(auth_app, "olena@example.org")] == ["confirm_email"]
    assert len(messages(auth_app, "new@example.org", "confirm_email")) == 1


def test_asking_for_the_verified_number_is_refused_and_changes_nothing(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    verify_phone(client, auth_app, pair)
    other = {"phone": "067 111 22 33", "password": PASSWORD}
    assert client.post("/api/auth/me/phone", json=other, headers=bearer(pair)).status_code == 200
    same = {"phone": PHONE, "password": PASSWORD}
    refused = client.post("/api/auth/me/phone?lang=en", json=same, headers=bearer(pair))
    assert refused.status_code == 422 and refused.json["errors"] == {
        "phone": ["This is already your number."]
    }
    me = client.get("/api/auth/me", headers=bearer(pair)).json
    assert me["phone"] == PHONE and me["pending_phone"] == "+380671112233"


def test_a_new_number_replaces_the_old_once_verified(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    verify_phone(client, auth_app, pair)
    new = "+380671112233"
    response = client.post(
        "/api/auth/me/phone",
        json={"phone": "067 111 22 33", "password": PASSWORD},
        headers=bearer(pair),
    )
    assert response.status_code == 200
    assert response.json["phone"] == PHONE and response.json["pending_phone"] == new
    assert response.json["phone_verified"] is True  # the old number still counts
    age_codes(auth_app, timedelta(minutes=2))  # past the one-minute resend cooldown
    verify_phone(client, auth_app, pair, new)
    me = client.get("/api/auth/me", headers=bearer(pair)).json
    assert me["phone"] == new and me["pending_phone"] is None and me["phone_verified"]


def test_export_holds_everything_about_me(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    response = client.get("/api/auth/me/export", headers=bearer(pair))
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.json
    assert data["account"]["email"] == "olena@example.org"
    assert data["account"]["phone"] == PHONE
    assert len(data["sessions"]) == 1
    assert [m["template"] for m in data["messages"]] == ["confirm_email"]
    created = datetime.fromisoformat(data["account"]["created_at"])  # RFC 3339, not an HTTP date
    assert created.utcoffset() == timedelta(0)


def test_deleting_the_account_erases_the_person_and_keeps_the_hashes(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    verify_phone(client, auth_app, pair)
    phone_hash = jwt.decode(
        client.post("/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]}).json[
            "access_token"
        ],
        options={"verify_signature": False},
    )["phone_hash"]
    pair = login(client).json
    assert (
        client.delete(
            "/api/auth/me", json={"password": "wrong one"}, headers=bearer(pair)
        ).status_code
        == 401
    )
    assert (
        client.delete("/api/auth/me", json={"password": PASSWORD}, headers=bearer(pair)).status_code
        == 204
    )
    with auth_app.app_context():
        user = db.session.query(User).one()
        assert (user.name, user.email, user.phone, user.password_hash) == (None,) * 4
        assert user.email_hash and user.erased_phone_hash == phone_hash
        assert user.deleted_at is not None
        bodies = " ".join(m.text_body for m in db.session.query(OutboxMessage))
        assert "Олена" not in bodies and "olena@example.org" not in bodies
    assert login(client).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(pair)).status_code == 401
    assert (
        client.post(
            "/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 401
    )
    # The address is free for a new account.
    assert (
        client.post(
            "/api/auth/register",
            json={
                "name": "Олена",
                "email": "olena@example.org",
                "password": PASSWORD,
                "phone": PHONE,
            },
        ).status_code
        == 202
    )


def test_a_resident_mends_the_name_and_new_tokens_carry_it(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    changed = client.patch("/api/auth/me", json={"name": "  Олена Коваль "}, headers=bearer(pair))
    assert changed.status_code == 200 and changed.json["name"] == "Олена Коваль"
    assert client.get("/api/auth/me", headers=bearer(pair)).json["name"] == "Олена Коваль"
    fresh = client.post("/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    claims = jwt.decode(fresh.json["access_token"], options={"verify_signature": False})
    assert claims["name"] == "Олена Коваль"


def test_a_name_is_one_line_and_changed_a_few_times_a_day_at_most(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    for bad in ("", "   ", "Олена\nКоваль", "Олена\u202eКоваль", "я" * 201, None, 5):
        refused = client.patch("/api/auth/me", json={"name": bad}, headers=bearer(pair))
        assert refused.status_code == 422, bad
        assert refused.content_type == "application/problem+json"
    assert client.patch("/api/auth/me", json={}, headers=bearer(pair)).status_code == 422
    assert client.patch("/api/auth/me", json={"name": "Олена"}).status_code == 401
    for n in range(5):
        assert (
            client.patch("/api/auth/me", json={"name": f"Олена {n}"}, headers=bearer(pair))
        ).status_code == 200
    too_often = client.patch("/api/auth/me", json={"name": "Олена 5"}, headers=bearer(pair))
    assert too_often.status_code == 429 and int(too_often.headers["Retry-After"]) > 0
    # The refused change changed nothing; giving the name it has costs nothing.
    assert client.get("/api/auth/me", headers=bearer(pair)).json["name"] == "Олена 4"
    same = client.patch("/api/auth/me", json={"name": "Олена 4"}, headers=bearer(pair))
    assert same.status_code == 200
