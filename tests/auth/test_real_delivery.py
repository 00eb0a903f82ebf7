"""The whole sign-up through a real SMTP server and a real Kannel."""

from __future__ import annotations

from services.auth.messaging.outbox import deliver_due
from services.auth.models import db
from tests.auth.helpers import PASSWORD, PHONE, answer_mail_requests, bearer, login, register
from tests.support.smtp import links_in


def deliver(auth_app, overrides):
    with auth_app.app_context():
        try:
            return deliver_due(db.session, {**auth_app.config, **overrides})
        finally:
            db.session.remove()


def test_register_confirm_and_verify_through_real_servers(client, auth_app, smtp_server, kannel):
    assert register(client).status_code == 202
    deliver(auth_app, smtp_server.config)
    email = smtp_server.inbox.wait_for("olena@example.org")
    [link] = links_in(email)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200
    token = path.split("token=", 1)[1]
    assert (
        client.post(
            "/api/auth/email/confirm/form", data={"token": token, "password": PASSWORD}
        ).status_code
        == 200
    )

    pair = login(client).json
    assert client.post("/api/auth/phone/code", headers=bearer(pair)).status_code == 202
    deliver(auth_app, kannel.config)
    text = kannel.wait_for_sms(PHONE)
    code = next(word.rstrip(".") for word in text.split() if word.rstrip(".").isdigit())
    verified = client.post("/api/auth/phone/verify", json={"code": code}, headers=bearer(pair))
    assert verified.status_code == 200 and verified.json["phone_verified"] is True

    refreshed = client.post(
        "/api/auth/token/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 200

    # A forgotten password, reset from the link in a real email.
    assert (
        client.post("/api/auth/password/forgot", json={"email": "olena@example.org"}).status_code
        == 202
    )
    answer_mail_requests(auth_app)
    deliver(auth_app, smtp_server.config)
    reset_mail = next(m for m in smtp_server.inbox.messages if "пароль" in str(m["Subject"]))
    reset_path = "/" + links_in(reset_mail)[0].split("://", 1)[1].split("/", 1)[1]
    assert client.get(reset_path).status_code == 200
    reset_token = reset_path.split("token=", 1)[1]
    new_password = "a fresh passphrase for Olena"
    assert (
        client.post(
            "/api/auth/password/reset/form", data={"token": reset_token, "password": new_password}
        ).status_code
        == 200
    )
    pair = login(client, password=new_password).json

    assert (
        client.delete(
            "/api/auth/me", json={"password": new_password}, headers=bearer(pair)
        ).status_code
        == 204
    )
    assert login(client, password=new_password).status_code == 401
