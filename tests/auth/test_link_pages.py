"""The pages that links in emails open: a link that will not work any more (used
already, expired) says so at once, instead of a form that fails only once it is sent;
and opening a link changes nothing."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event

from services.auth.accounts import links
from services.auth.models import db
from tests.auth.helpers import (
    PASSWORD,
    answer_mail_requests,
    bearer,
    confirmed_resident,
    link_token,
    messages,
    register,
)

CONFIRM, RESET = "/api/auth/email/confirm", "/api/auth/password/reset"
USED_ADDRESS = "This link was used already: the address is confirmed. Sign in."
USED_RESET = "This link was used already: the password was changed after it was sent."


@contextmanager
def nothing_written(auth_app):
    """Fails unless auth's database sees only reads meanwhile."""
    with auth_app.app_context():
        engine = db.engine
    writes: list[str] = []

    def executed(conn, cursor, statement, *args):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", executed)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    assert writes == []


def reset_link(client, auth_app, email="olena@example.org") -> str:
    client.post("/api/auth/password/forgot", json={"email": email})
    answer_mail_requests(auth_app)  # as the delivery worker does
    return link_token(messages(auth_app, email, "reset_password")[-1].text_body)


def test_a_confirmation_link_opened_again_says_at_once_it_was_used(client, auth_app):
    register(client, locale="en")
    token = link_token(messages(auth_app, "olena@example.org", "confirm_email")[-1].text_body)
    with nothing_written(auth_app):  # a mail scanner's fetch confirms nothing
        first = client.get(f"{CONFIRM}?token={token}")
    assert first.status_code == 200 and 'name="password"' in first.text
    form = {"token": token, "password": PASSWORD}
    assert client.post(f"{CONFIRM}/form", data=form).status_code == 200

    with nothing_written(auth_app):
        again = client.get(f"{CONFIRM}?token={token}")
    assert again.status_code == 400
    assert USED_ADDRESS in again.text and 'href="/login"' in again.text
    assert "<form" not in again.text and 'href="/password/forgot"' not in again.text


def test_the_used_page_speaks_the_emails_language(client, auth_app):
    register(client)  # in Ukrainian
    token = link_token(messages(auth_app, "olena@example.org", "confirm_email")[-1].text_body)
    assert client.post(CONFIRM, json={"token": token, "password": PASSWORD}).status_code == 200
    again = client.get(f"{CONFIRM}?token={token}", headers={"Accept-Language": "en"})
    assert again.status_code == 400 and '<html lang="uk"' in again.text
    assert "Це посилання вже використано" in again.text and "<form" not in again.text
    chosen = client.get(f"{CONFIRM}?token={token}&lang=en")  # unless the visitor chooses
    assert '<html lang="en"' in chosen.text and USED_ADDRESS in chosen.text


def test_a_reset_link_opened_after_the_password_was_set_says_so_and_offers_a_new_one(
    client, auth_app
):
    register(client, locale="en")
    token = reset_link(client, auth_app)
    with nothing_written(auth_app):
        first = client.get(f"{RESET}?token={token}")
    assert first.status_code == 200 and 'name="password"' in first.text
    form = {"token": token, "password": "a brand new passphrase"}
    assert client.post(f"{RESET}/form", data=form).status_code == 200

    with nothing_written(auth_app):
        again = client.get(f"{RESET}?token={token}")
    assert again.status_code == 400 and USED_RESET in again.text
    assert 'href="/login"' in again.text and 'href="/password/forgot"' in again.text
    assert "<form" not in again.text
    # The form's answer offers the same.
    sent = client.post(f"{RESET}/form", data=form)
    assert sent.status_code == 400 and 'href="/password/forgot"' in sent.text


def test_a_reset_link_sent_before_a_change_of_password_says_it_was_used(client, auth_app):
    pair = confirmed_resident(client, auth_app, locale="en")
    token = reset_link(client, auth_app)
    body = {"current_password": PASSWORD, "new_password": "a fresh and different passphrase"}
    changed = client.post("/api/auth/password/change", json=body, headers=bearer(pair))
    assert changed.status_code == 200
    page = client.get(f"{RESET}?token={token}")
    assert page.status_code == 400 and USED_RESET in page.text and "<form" not in page.text
    refused = client.post(RESET, json={"token": token, "password": "yet another passphrase"})
    assert refused.status_code == 400 and refused.json["used"] is True


def test_an_expired_or_forged_link_says_so_at_once_without_offering_to_sign_in(
    client, auth_app, monkeypatch
):
    register(client, locale="en")
    token = reset_link(client, auth_app)
    monkeypatch.setattr(links, "RESET_LINK_TTL", timedelta(seconds=-1))
    expired = client.get(f"{RESET}?token={token}&lang=en")
    assert (
        expired.status_code == 400 and "This link has expired. Ask for a new one." in expired.text
    )
    assert "<form" not in expired.text and 'href="/login"' not in expired.text
    for forged in (token[:-2], "nonsense", ""):
        page = client.get(f"{CONFIRM}?token={forged}&lang=en")
        assert page.status_code == 400 and "This link is not valid." in page.text
        assert "<form" not in page.text and 'href="/login"' not in page.text
