"""Register, confirm, sign in, refresh, sign out, recover a password."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import event, func, select

from services.auth.accounts.models import MailRequest
from services.auth.models import db
from tests.auth.helpers import (
    PASSWORD,
    PHONE,
    answer_mail_requests,
    bearer,
    confirmed_resident,
    link_token,
    login,
    messages,
    register,
)


def test_register_confirm_and_sign_in(client, auth_app):
    response = register(client)
    assert response.status_code == 202
    [mail] = messages(auth_app, "olena@example.org")
    assert mail.template == "confirm_email" and mail.locale == "uk"
    assert mail.subject == "Підтвердьте свою адресу електронної пошти"
    token = link_token(mail.text_body)

    # The link's GET shows a button and changes nothing: a mail scanner confirms nothing.
    # It speaks the email's language, whatever the browser that opens it prefers.
    page = client.get(f"/api/auth/email/confirm?token={token}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "<form" in page.get_data(as_text=True)
    assert '<html lang="uk"' in page.get_data(as_text=True)
    assert "lang=uk" in page.get_data(as_text=True)  # and so does the page after the button
    before = login(client)
    assert before.status_code == 200
    claims = jwt.decode(before.json["access_token"], options={"verify_signature": False})
    assert claims["email_verified"] is False

    # Only with the account's password: a stranger's click confirms nothing.
    wrong = client.post("/api/auth/email/confirm/form", data={"token": token, "password": "x"})
    assert wrong.status_code == 401 and 'name="password"' in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    confirmed = client.post(
        "/api/auth/email/confirm/form", data={"token": token, "password": PASSWORD}
    )
    assert confirmed.status_code == 200
    assert 'href="/login"' in confirmed.text  # the next step, a click away
    pair = login(client).json
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["email_verified"] is True and claims["phone_verified"] is False
    assert claims["name"] == "Олена Коваль" and claims["locale"] == "uk"
    me = client.get("/api/auth/me", headers=bearer(pair))
    assert me.status_code == 200
    assert me.json["email"] == "olena@example.org" and me.json["phone"] == "+380501234567"


def test_a_confirmation_link_works_once(client, auth_app):
    register(client)
    token = link_token(messages(auth_app, "olena@example.org")[0].text_body)
    confirm = {"token": token, "password": PASSWORD}
    assert client.post("/api/auth/email/confirm", json=confirm).status_code == 200
    again = client.post("/api/auth/email/confirm", json=confirm)
    assert again.status_code == 400 and again.json["type"].endswith(":invalid-link")


def test_an_account_opened_in_a_strangers_name_is_not_confirmed_by_the_stranger(client, auth_app):
    """Pre-hijacking: someone opens an account with another's address, hoping the owner
    clicks Confirm; the click without the account's password confirms nothing, and
    guessing the password through the link is limited as sign-in is."""
    register(client, "victim@example.org", password="the squatter's own passphrase")
    token = link_token(messages(auth_app, "victim@example.org")[0].text_body)
    clicked = client.post("/api/auth/email/confirm", json={"token": token, "password": ""})
    assert clicked.status_code == 401
    for _ in range(9):
        guess = {"token": token, "password": "guess guess guess"}
        assert client.post("/api/auth/email/confirm", json=guess).status_code == 401
    held = client.post("/api/auth/email/confirm", json={"token": token, "password": "x"})
    assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0
    pair = login(client, "victim@example.org", "the squatter's own passphrase").json
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["email_verified"] is False


def test_forged_and_cross_purpose_links_are_refused(client, auth_app):
    register(client)
    token = link_token(messages(auth_app, "olena@example.org")[0].text_body)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, "nonsense", ""):
        response = client.post("/api/auth/email/confirm", json={"token": bad, "password": PASSWORD})
        assert response.status_code in (400, 422)
    # A confirmation token is not a reset token.
    response = client.post(
        "/api/auth/password/reset", json={"token": token, "password": "another fine passphrase"}
    )
    assert response.status_code == 400 and response.json["type"].endswith(":invalid-link")


def test_registering_a_known_address_looks_the_same(client, auth_app):
    first = register(client)
    second = register(client, name="Someone Else", password="a different passphrase here")
    assert first.status_code == second.status_code == 202
    assert first.json == second.json
    templates = [m.template for m in messages(auth_app, "olena@example.org")]
    assert templates == ["confirm_email", "already_registered"]


def test_sign_in_failures_look_the_same(client, auth_app):
    register(client)
    wrong_password = login(client, password="not the password at all")
    unknown = login(client, email="nobody@example.org")
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json["detail"] == unknown.json["detail"]
    assert wrong_password.json["type"] == unknown.json["type"]


def test_failed_sign_ins_are_throttled_per_account_and_place(client, auth_app):
    register(client, "target@example.org")
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    for _ in range(10):
        guess = {"email": "target@example.org", "password": "guess guess guess"}
        assert client.post("/api/auth/login", json=guess, environ_base=attacker).status_code == 401
    right = {"email": "target@example.org", "password": PASSWORD}
    blocked = client.post("/api/auth/login", json=right, environ_base=attacker)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # The guesses lock out the place they came from, not the resident elsewhere.
    resident = {"REMOTE_ADDR": "198.51.100.9"}
    assert client.post("/api/auth/login", json=right, environ_base=resident).status_code == 200


def test_one_place_cannot_open_accounts_without_end(client, auth_app, monkeypatch):
    """Each registration costs an argon2 hash and an email: limited per client."""
    from limits import parse

    from services.auth.accounts.throttle import registration_throttle

    limits = registration_throttle(auth_app).items
    monkeypatch.setitem(limits, "register-client", parse("3/hour"))
    here = {"REMOTE_ADDR": "203.0.113.7"}
    for n in range(3):
        response = client.post(
            "/api/auth/register",
            json={
                "name": "Bot",
                "email": f"bot{n}@example.org",
                "password": PASSWORD,
                "phone": "050 123 4567",
            },
            environ_base=here,
        )
        assert response.status_code == 202
    refused = client.post(
        "/api/auth/register",
        json={
            "name": "Bot",
            "email": "bot3@example.org",
            "password": PASSWORD,
            "phone": "050 123 4567",
        },
        environ_base=here,
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.content_type == "application/problem+json"
    assert messages(auth_app, "bot3@example.org") == []
    assert register(client, "elsewhere@example.org").status_code == 202  # another place


@pytest.mark.parametrize(
    "name",
    [
        "Olena\n\nSECURITY NOTICE: your account will be deleted, see https://evil.example",
        "Olena\r\nBcc: all@example.org",
        "Olena\u2028Koval",
        "\u202eanelO",  # reads backwards
        "Olena\x00",
        "   ",
    ],
)
def test_a_name_is_one_line_of_text(client, auth_app, name):
    response = register(client, "named@example.org", name=name)
    assert response.status_code == 422 and "name" in response.json["errors"]
    assert messages(auth_app, "named@example.org") == []


@pytest.mark.parametrize(
    ("language", "said"),
    [("en", "Give from 1 to 200 characters."), ("uk", "Кількість символів — від 1 до 200.")],
)
def test_a_names_length_is_said_in_characters(client, auth_app, language, said):
    """Not "Give from 1 to 200.": of what?"""
    for name in ("", "я" * 263):
        body = {"name": name, "email": "named@example.org", "password": PASSWORD, "phone": PHONE}
        refused = client.post(f"/api/auth/register?lang={language}", json=body)
        assert refused.status_code == 422 and refused.json["errors"]["name"] == [said]
    assert messages(auth_app, "named@example.org") == []


def test_mail_to_an_address_not_yet_confirmed_does_not_carry_the_name(client, auth_app):
    """Whoever registers can choose the name, and the address may be a stranger's."""
    assert (
        register(client, "stranger@example.org", name="Visit evil.example now").status_code == 202
    )
    [message] = messages(auth_app, "stranger@example.org", "confirm_email")
    assert "evil.example" not in message.text_body + (message.html_body or "")
    assert "evil.example" not in message.subject


def test_refresh_rotates_and_a_reused_token_revokes_the_family(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    rotated = client.post("/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200
    assert rotated.json["refresh_token"] != pair["refresh_token"]
    # The old one again: a thief and the owner both hold it. The whole family dies.
    reused = client.post("/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert reused.status_code == 401
    newest = client.post(
        "/api/auth/token/refresh", json={"refresh_token": rotated.json["refresh_token"]}
    )
    assert newest.status_code == 401


def test_logout_revokes(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    assert (
        client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code
        == 204
    )
    refused = client.post("/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refused.status_code == 401


def test_password_recovery(client, auth_app):
    old = confirmed_resident(client, auth_app)
    assert (
        client.post("/api/auth/password/forgot", json={"email": "olena@example.org"}).status_code
        == 202
    )
    unknown = client.post("/api/auth/password/forgot", json={"email": "nobody@example.org"})
    assert unknown.status_code == 202
    assert answer_mail_requests(auth_app) == 2  # the worker takes both up
    assert messages(auth_app, "nobody@example.org") == []
    token = link_token(messages(auth_app, "olena@example.org", "reset_password")[0].text_body)
    assert client.get(f"/api/auth/password/reset?token={token}").status_code == 200
    weak = client.post("/api/auth/password/reset", json={"token": token, "password": "password1"})
    assert weak.status_code == 422 and "password" in weak.json["errors"]
    new_password = "a brand new passphrase"
    assert (
        client.post(
            "/api/auth/password/reset", json={"token": token, "password": new_password}
        ).status_code
        == 204
    )
    # Once only; every old session ends; only the new password works.
    assert (
        client.post(
            "/api/auth/password/reset", json={"token": token, "password": "x" * 12}
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/api/auth/token/refresh", json={"refresh_token": old["refresh_token"]}
        ).status_code
        == 401
    )
    assert login(client).status_code == 401
    assert login(client, password=new_password).status_code == 200


def _statements(auth_app, request) -> list[str]:
    """The SQL that `request()` runs on auth's database, in order, without parameters."""
    with auth_app.app_context():
        engine = db.engine
    seen: list[str] = []

    def executed(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", executed)
    try:
        assert request().status_code == 202
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    return seen


@pytest.mark.parametrize(
    ("path", "template"),
    [("/api/auth/password/forgot", "reset_password"), ("/api/auth/email/resend", "confirm_email")],
)
def test_asking_for_a_link_runs_the_same_statements_for_any_address(
    client, auth_app, path, template
):
    """An attacker timing the answers learns nothing: the request does the same work
    whether or not the address has an account; the delivery worker does the rest."""
    if template == "reset_password":
        confirmed_resident(client, auth_app)
    else:
        assert register(client).status_code == 202
    before = len(messages(auth_app, "olena@example.org"))
    known = _statements(auth_app, lambda: client.post(path, json={"email": "olena@example.org"}))
    unknown = _statements(auth_app, lambda: client.post(path, json={"email": "x@example.org"}))
    assert known == unknown and any("INSERT INTO mail_requests" in s for s in known)
    assert len(messages(auth_app, "olena@example.org")) == before  # nothing queued yet

    # Answered once each (a second pass finds nothing), the unknown address by nothing.
    assert answer_mail_requests(auth_app) == 2
    assert answer_mail_requests(auth_app) == 0
    assert messages(auth_app, "x@example.org") == []
    if template == "reset_password":  # the confirmation went out just now: a minute's wait
        assert len(messages(auth_app, "olena@example.org", template)) == 1
    with auth_app.app_context():
        assert db.session.scalar(select(func.count(MailRequest.id))) == 0


def test_bad_input_is_a_problem_and_changes_nothing(client, auth_app):
    cases = [
        {"name": "A", "email": "not-an-email", "password": PASSWORD, "phone": "0501234567"},
        {"name": "A", "email": "a@example.org", "password": PASSWORD, "phone": "12"},
        {"name": "A", "email": "a@example.org", "password": "short", "phone": "0501234567"},
        {"name": "A", "email": "a@example.org", "password": "qwerty123456", "phone": "0501234567"},
        {"name": "", "email": "a@example.org", "password": PASSWORD, "phone": "0501234567"},
        {"email": "a@example.org"},
    ]
    for body in cases:
        response = client.post("/api/auth/register", json=body)
        assert response.status_code == 422, body
        assert response.json["type"] == "urn:viche:problem:validation-failed"
        assert response.json["errors"]
    assert messages(auth_app, "a@example.org") == []


def test_the_api_speaks_the_residents_language(client):
    response = client.post(
        "/api/auth/register", json={"email": "x"}, headers={"Accept-Language": "uk"}
    )
    assert response.json["title"] == "Запит містить некоректні поля"


def test_forged_access_tokens_are_refused_by_auth_itself(client, auth_app):
    from tests.support.tokens import forged_tokens

    confirmed_resident(client, auth_app)
    for variant, token in forged_tokens(auth_app).items():
        response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, variant


def test_key_rotation_from_the_cli_keeps_sessions_alive(client, auth_app):
    from click.testing import CliRunner

    from gateway.cli import main as viche

    pair = confirmed_resident(client, auth_app)
    result = CliRunner().invoke(viche, ["auth", "rotate-keys"])
    assert result.exit_code == 0 and "now signing with key" in result.output
    assert client.get("/api/auth/me", headers=bearer(pair)).status_code == 200
    fresh = client.post("/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert client.get("/api/auth/me", headers=bearer(fresh.json)).status_code == 200
    assert len(client.get("/api/auth/.well-known/jwks.json").json["keys"]) == 2


def test_accounts_of_one_mailbox_carry_one_email_hash(client, auth_app):
    """ann+polls@gmail.com, a.n.n@gmail.com and ann@googlemail.com deliver to one mailbox:
    their tokens say so with one keyed hash (one vote), and say nothing of the address."""

    def email_hash(email: str) -> str | None:
        pair = confirmed_resident(client, auth_app, email)
        return jwt.decode(pair["access_token"], options={"verify_signature": False})["email_hash"]

    first = email_hash("ann+polls@gmail.com")
    assert first and "ann" not in first
    assert email_hash("a.n.n@gmail.com") == first
    assert email_hash("ann@googlemail.com") == first
    assert email_hash("anna@gmail.com") != first
    # Until the address is confirmed, no hash stands for it.
    register(client, "bob@example.org")
    unconfirmed = jwt.decode(
        login(client, "bob@example.org").json["access_token"], options={"verify_signature": False}
    )
    assert unconfirmed["email_hash"] is None


def test_an_empty_registration_hears_of_every_field_at_once(client):
    """The password's length is checked with the other fields, not only once they pass
    (its other rules need the address and the name, and follow them)."""
    empty = {"name": "", "email": "", "password": "", "phone": ""}
    refused = client.post("/api/auth/register?lang=en", json=empty)
    assert refused.status_code == 422 and refused.json["errors"].keys() == empty.keys()
    assert refused.json["errors"]["password"] == ["Use at least 10 characters."]
