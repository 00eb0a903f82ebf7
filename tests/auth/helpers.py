"""Builders for auth tests: a registered resident, and reading their messages."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from services.auth.accounts.models import PhoneVerification
from services.auth.messaging.models import OutboxMessage
from services.auth.models import db

PASSWORD = "a long and unusual passphrase"
PHONE = "+380501234567"


def register(
    client,
    email="olena@example.org",
    *,
    name="Олена Коваль",
    password=PASSWORD,
    phone="050 123 4567",
    locale="uk",
):
    return client.post(
        "/api/auth/register",
        json={
            "name": name,
            "email": email,
            "password": password,
            "phone": phone,
            "locale": locale,
        },
    )


def messages(auth_app, to: str, template: str | None = None) -> list[OutboxMessage]:
    with auth_app.app_context():
        query = select(OutboxMessage).where(OutboxMessage.recipient == to)
        if template:
            query = query.where(OutboxMessage.template == template)
        found = db.session.scalars(query.order_by(OutboxMessage.id)).all()
        for message in found:
            db.session.expunge(message)
        return found


def link_token(text: str) -> str:
    url = re.search(r"https?://\S+", text).group(0)
    return parse_qs(urlsplit(url).query)["token"][0]


def page_form(html: str) -> tuple[str, dict[str, str]]:
    """The one form of a link's page: where it POSTs, and its hidden fields, as a
    browser would send them (an address on this site becomes its path)."""
    [form] = re.findall(r'<form method="post" action="([^"]*)">(.*?)</form>', html, re.S)
    action, inside = form
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', inside))
    parts = urlsplit(unescape(action))
    return parts.path + (f"?{parts.query}" if parts.query else ""), {
        name: unescape(value) for name, value in fields.items()
    }


def confirmed_resident(client, auth_app, email="olena@example.org", **kwargs) -> dict:
    """Register, confirm and sign in; the token pair."""
    assert register(client, email, **kwargs).status_code == 202
    token = link_token(messages(auth_app, email, "confirm_email")[-1].text_body)
    confirm = {"token": token, "password": kwargs.get("password", PASSWORD)}
    assert client.post("/api/auth/email/confirm", json=confirm).status_code == 200
    return login(client, email, kwargs.get("password", PASSWORD)).json


def login(client, email="olena@example.org", password=PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def bearer(pair: dict) -> dict:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def sms_code(auth_app, phone=PHONE) -> str:
    text = messages(auth_app, phone, "phone_code")[-1].text_body
    return re.search(r"\b(\d{6})\b", text).group(1)


def age_codes(auth_app, by: timedelta):
    """Move every SMS code's clock back, as if time had passed."""
    with auth_app.app_context():
        for verification in db.session.query(PhoneVerification):
            verification.created_at -= by
            verification.expires_at -= by
        db.session.commit()


def answer_mail_requests(auth_app) -> int:
    """What the delivery worker does first: queue the emails residents asked for."""
    from services.auth.accounts.recovery import answer_mail_requests as answer
    from services.auth.accounts.settings import Settings

    with auth_app.app_context():
        try:
            return answer(db.session, Settings.from_config(auth_app.config))
        finally:
            db.session.remove()
