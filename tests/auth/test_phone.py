"""Phone verification by SMS code: one number, one account, and no SMS pumping."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from services.auth.accounts import phone
from services.auth.accounts.models import PhoneVerification
from services.auth.models import db
from services.auth.settings import auth_settings
from services.common.config import ConfigError
from tests.auth.helpers import (
    PASSWORD,
    PHONE,
    age_codes,
    bearer,
    confirmed_resident,
    login,
    messages,
    register,
    sms_code,
)
from tests.conftest import TEST_DB
from tests.support.concurrency import at_once


def refreshed_claims(client, pair) -> dict:
    response = client.post("/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    return jwt.decode(response.json["access_token"], options={"verify_signature": False})


def test_the_code_verifies_the_phone(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    assert client.post("/api/auth/phone/code", headers=bearer(pair)).status_code == 202
    [sms] = messages(auth_app, PHONE, "phone_code")
    assert sms.channel == "sms" and "Код Віче" in sms.text_body
    with auth_app.app_context():  # stored hashed: the code is nowhere in the table
        stored = db.session.query(PhoneVerification).one()
        assert sms_code(auth_app) not in stored.code_hash
    response = client.post(
        "/api/auth/phone/verify", json={"code": sms_code(auth_app)}, headers=bearer(pair)
    )
    assert response.status_code == 200 and response.json["phone_verified"] is True
    claims = refreshed_claims(client, pair)
    assert claims["phone_verified"] is True and len(claims["phone_hash"]) == 43
    again = client.post("/api/auth/phone/code", headers=bearer(pair))
    assert again.status_code == 409


def test_five_wrong_codes_lock_verification(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    client.post("/api/auth/phone/code", headers=bearer(pair))
    right = sms_code(auth_app)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    statuses = [
        client.post(
            "/api/auth/phone/verify", json={"code": wrong}, headers=bearer(pair)
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [400, 400, 400, 400, 429]
    # Locked: even the right code, and a fresh code does not unlock it.
    locked = client.post("/api/auth/phone/verify", json={"code": right}, headers=bearer(pair))
    assert locked.status_code == 429 and locked.json["type"].endswith(":verification-locked")
    age_codes(auth_app, timedelta(minutes=2))
    assert client.post("/api/auth/phone/code", headers=bearer(pair)).status_code == 429


def test_an_expired_code_is_refused(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    client.post("/api/auth/phone/code", headers=bearer(pair))
    age_codes(auth_app, timedelta(minutes=11))
    response = client.post(
        "/api/auth/phone/verify", json={"code": sms_code(auth_app)}, headers=bearer(pair)
    )
    assert response.status_code == 400 and response.json["type"].endswith(":code-expired")


def test_resend_cooldown_and_daily_caps_stop_sms_pumping(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    assert client.post("/api/auth/phone/code", headers=bearer(pair)).status_code == 202
    too_soon = client.post("/api/auth/phone/code", headers=bearer(pair))
    assert too_soon.status_code == 429 and too_soon.headers["Retry-After"] == "60"
    for _ in range(4):
        age_codes(auth_app, timedelta(minutes=2))
        assert client.post("/api/auth/phone/code", headers=bearer(pair)).status_code == 202
    age_codes(auth_app, timedelta(minutes=2))
    capped = client.post("/api/auth/phone/code", headers=bearer(pair))
    assert capped.status_code == 429 and capped.headers["Retry-After"] == "86400"
    assert len(messages(auth_app, PHONE, "phone_code")) == 5


def test_past_the_installations_sms_budget_nobody_gets_a_code(client, auth_app, caplog):
    """Many accounts from many places is SMS pumping too: a ceiling over them all."""
    auth_app.config["SMS_PER_HOUR"] = 2
    try:
        for n in range(3):
            pair = confirmed_resident(
                client, auth_app, f"resident{n}@example.org", phone=f"050 123 45{n:02d}"
            )
            here = {"REMOTE_ADDR": f"198.51.100.{n}"}
            sent = client.post("/api/auth/phone/code", headers=bearer(pair), environ_base=here)
            if n < 2:
                assert sent.status_code == 202
        assert sent.status_code == 429 and sent.headers["Retry-After"] == "3600"
        assert "SMS budget reached" in caplog.text
        assert messages(auth_app, "+380501234502", "phone_code") == []
    finally:
        auth_app.config["SMS_PER_HOUR"] = 300


def test_one_ipv6_network_is_one_client_for_the_daily_cap(client, auth_app, monkeypatch):
    """Whoever holds a /64 holds 2^64 addresses: they count as one."""
    monkeypatch.setattr(phone, "SMS_PER_CLIENT_PER_DAY", 2)
    for n in range(3):
        pair = confirmed_resident(
            client, auth_app, f"pump{n}@example.org", phone=f"050 765 43{n:02d}"
        )
        here = {"REMOTE_ADDR": f"2001:db8:1:2::{n + 1:x}"}
        sent = client.post("/api/auth/phone/code", headers=bearer(pair), environ_base=here)
    assert sent.status_code == 429 and sent.headers["Retry-After"] == "86400"
    elsewhere = confirmed_resident(client, auth_app, "elsewhere@example.org", phone="050 111 2233")
    other_network = {"REMOTE_ADDR": "2001:db8:1:3::1"}
    assert (
        client.post(
            "/api/auth/phone/code", headers=bearer(elsewhere), environ_base=other_network
        ).status_code
        == 202
    )


def test_no_code_is_texted_before_the_address_is_confirmed(client, auth_app):
    """Texts cost money: an account anyone can open with any address gets none."""
    assert register(client, "unconfirmed@example.org").status_code == 202
    pair = login(client, "unconfirmed@example.org").json
    refused = client.post("/api/auth/phone/code", headers=bearer(pair))
    assert refused.status_code == 409 and refused.json["type"].endswith("phone-state")
    assert messages(auth_app, PHONE, "phone_code") == []


def test_numbers_are_taken_only_from_the_countries_the_installation_texts(client, auth_app):
    hungarian = {"phone": "+36 20 123 4567", "password": PASSWORD}
    pair = confirmed_resident(client, auth_app)
    refused = client.post("/api/auth/me/phone", json=hungarian, headers=bearer(pair))
    assert refused.status_code == 422 and "phone" in refused.json["errors"]
    assert register(client, "abroad@example.org", phone="+36 20 123 4567").status_code == 422
    auth_app.config["SMS_COUNTRIES"] = frozenset({"UA", "HU"})
    try:
        taken = client.post("/api/auth/me/phone", json=hungarian, headers=bearer(pair))
        assert taken.status_code == 200 and taken.json["phone"] == "+36201234567"
    finally:
        auth_app.config["SMS_COUNTRIES"] = frozenset({"UA"})


def test_the_countries_texted_are_read_from_the_environment():
    assert auth_settings({"VICHE_SMS_COUNTRIES": "ua, hu,TR"})["SMS_COUNTRIES"] == {
        "UA",
        "HU",
        "TR",
    }
    for wrong in ("", "XX", "UA,Ukraine"):
        with pytest.raises(ConfigError):
            auth_settings({"VICHE_SMS_COUNTRIES": wrong or ","})


def test_one_number_verifies_one_account(client, auth_app):
    first = confirmed_resident(client, auth_app, "first@example.org")
    second = confirmed_resident(client, auth_app, "second@example.org")
    client.post("/api/auth/phone/code", headers=bearer(first))
    assert (
        client.post(
            "/api/auth/phone/verify", json={"code": sms_code(auth_app)}, headers=bearer(first)
        ).status_code
        == 200
    )
    client.post("/api/auth/phone/code", headers=bearer(second))
    taken = client.post(
        "/api/auth/phone/verify", json={"code": sms_code(auth_app)}, headers=bearer(second)
    )
    assert taken.status_code == 409 and taken.json["type"].endswith(":phone-taken")
    assert refreshed_claims(client, second)["phone_verified"] is False


def test_phone_endpoints_need_a_token(client):
    assert client.post("/api/auth/phone/code").status_code == 401
    assert client.post("/api/auth/phone/verify", json={"code": "123456"}).status_code == 401


def test_code_format_is_validated(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    for code in ("12345", "abcdef", "1234567", ""):
        response = client.post("/api/auth/phone/verify", json={"code": code}, headers=bearer(pair))
        assert response.status_code == 422


@pytest.mark.skipif(TEST_DB != "postgres", reason="parallel guesses need a server database")
def test_guesses_sent_at_once_are_limited_like_any_others(client, gateway, auth_app):
    pair = confirmed_resident(client, auth_app)
    client.post("/api/auth/phone/code", headers=bearer(pair))
    wrong = f"{(int(sms_code(auth_app)) + 1) % 10**6:06d}"
    statuses = at_once(
        gateway, [("POST", "/api/auth/phone/verify", {"code": wrong}, bearer(pair))] * 12
    )
    assert statuses.count(400) == 4 and statuses.count(429) == 8  # the fifth locks
    with auth_app.app_context():
        tries = db.session.scalar(select(func.sum(PhoneVerification.failed_attempts)))
        db.session.remove()
    assert tries == 5
