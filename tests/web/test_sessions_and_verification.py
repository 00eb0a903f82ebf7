"""A session that has ended, and verifications made while signed in: the pages follow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from services.auth.messaging.models import OutboxMessage
from services.auth.models import db as auth_db
from tests.auth.helpers import (
    PASSWORD,
    PHONE,
    answer_mail_requests,
    link_token,
    messages,
    sms_code,
)
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
    confirm = {"token": token, "password": PASSWORD}
    assert client.post("/api/auth/email/confirm", json=confirm).status_code == 200


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


def test_the_code_field_is_there_whenever_the_phone_waits(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/account?lang=en")
    assert 'name="code"' in page.text and "Text me a code" in page.text
    assert client.post("/account/phone/code", data={"csrf": csrf(page)}).status_code == 200
    # Pressed again within the minute: refused, and the code already sent still goes in.
    again = client.post("/account/phone/code?lang=en", data={"csrf": csrf(page)})
    assert again.status_code == 429 and "less than a minute ago" in again.text
    assert 'name="code"' in again.text
    later = client.get("/account?lang=en")
    assert 'name="code"' in later.text
    verified = client.post(
        "/account/phone/verify", data={"csrf": csrf(page), "code": sms_code(auth_app)}
    )
    assert verified.status_code == 303
    done = client.get("/account?lang=en").text
    assert 'id="phone-verified"' in done and 'name="code"' not in done


def test_a_new_number_for_a_verified_phone_is_verified_from_the_page(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/account?lang=en")
    client.post("/account/phone/code", data={"csrf": csrf(page)})
    client.post("/account/phone/verify", data={"csrf": csrf(page), "code": sms_code(auth_app)})

    changed = client.post(
        "/account/phone?lang=en",
        data={"csrf": csrf(page), "phone": "050 765 4321", "password": PASSWORD},
    )
    html = changed.text
    assert changed.status_code == 200 and 'role="status"' in html
    # On one line, whatever the screen's width: no-break spaces inside the number.
    assert "+380\u00a050\u00a0765\u00a04321 counts once you verify it with a code." in html
    assert 'id="pending-phone"' in html and 'name="code"' in html and "Text me a code" in html
    assert '<dd id="pending-phone"><span class="phone-number">+380 50 765 4321</span> ' in html
    # A minute after the first code, one goes to the new number.
    with auth_app.app_context():
        from services.auth.accounts.models import PhoneVerification

        for verification in auth_db.session.query(PhoneVerification):
            verification.created_at -= timedelta(minutes=2)
        auth_db.session.commit()
    assert client.post("/account/phone/code", data={"csrf": csrf(page)}).status_code == 200
    code = sms_code(auth_app, "+380507654321")
    verified = client.post("/account/phone/verify", data={"csrf": csrf(page), "code": code})
    assert verified.status_code == 303
    done = client.get("/account?lang=en").text
    assert "+380 50 765 4321" in done and 'id="phone-verified"' in done
    assert 'id="pending-phone"' not in done and "+380 50 123 4567" not in done


def test_an_unconfirmed_resident_is_offered_the_link_again_not_a_code(client, auth_app):
    register_only(client)
    page = client.get("/account?lang=en")
    assert 'id="email-unconfirmed"' in page.text and "Send the link again" in page.text
    assert "Надіслати посилання ще раз" in client.get("/account?lang=uk").text
    with auth_app.app_context():  # the first email went out more than a minute ago
        for message in auth_db.session.query(OutboxMessage):
            message.created_at -= timedelta(minutes=2)
        auth_db.session.commit()
    sent = client.post("/account/email/resend?lang=en", data={"csrf": csrf(page)})
    assert sent.status_code == 200 and 'role="status"' in sent.text
    assert "a new link is on its way" in sent.text
    answer_mail_requests(auth_app)
    assert len(messages(auth_app, EMAIL, "confirm_email")) == 2
    assert client.post("/account/email/resend", data={"csrf": "guess"}).status_code == 403


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


def test_a_refusal_for_want_of_a_verification_says_how_to_get_it(client, auth_app):
    register_only(client)
    form = client.get("/petitions/new?lang=en")
    body = {"csrf": csrf(form), "council": "kyiv", "title": "Ліхтарі біля школи", "text": TEXT}
    refused = client.post("/petitions/new?lang=en", data={**body, "checked": "1"})
    assert refused.status_code == 422 and "Confirm your email address first." in refused.text
    assert "Send the link again" in refused.text
    confirm_in_another_tab(client, auth_app)  # the default policy asks for a phone too
    refused = client.post("/petitions/new?lang=en", data={**body, "checked": "1"})
    assert refused.status_code == 422 and "Verify your phone number first." in refused.text
    assert "Verify your phone on your account page" in refused.text
    assert "Send the link again" not in refused.text


def test_the_account_page_writes_numbers_as_people_do(client, auth_app):
    """+380 50 123 4567, not the E.164 auth keeps (+380501234567), wherever a number is
    shown: the account's, the one a code goes to, a new one's notice."""
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/account?lang=en")
    assert '<dd><span class="phone-number">+380 50 123 4567</span> ' in page.text
    assert 'We text a code to <span class="phone-number">+380 50 123 4567</span>.' in page.text
    assert PHONE not in page.text
    changed = client.post(
        "/account/phone?lang=en",
        data={"csrf": csrf(page), "phone": "050 765 4321", "password": PASSWORD},
    )
    assert "+380\u00a050\u00a0765\u00a04321 counts once you verify it" in changed.text
    assert 'We text a code to <span class="phone-number">+380 50 765 4321</span>.' in changed.text
    assert "+380507654321" not in changed.text and PHONE not in changed.text


def test_a_phone_number_keeps_to_one_line(client, auth_app):
    """A number breaks at none of its spaces on a narrow screen: the account's, and the
    one a code goes to inside a translated sentence (a new one waiting: above)."""
    response = client.get("/static/site.css")
    css = response.text
    response.close()
    assert ".phone-number { white-space: nowrap; }" in css
    number = '<span class="phone-number">+380 50 123 4567</span>'
    register_only(client)
    page = client.get("/account?lang=en").text
    assert f"<dd>{number} " in page
    assert f"Once your email address is confirmed, we can text a code to {number}." in page
    confirm_in_another_tab(client, auth_app)
    page = client.get("/account?lang=en").text
    assert f"<dd>{number} " in page and f"We text a code to {number}." in page
    # The sentence in another language holds the same element, and escapes nothing of it.
    page = client.get("/account?lang=uk").text
    assert page.count(number) == 2 and "&lt;span" not in page


def test_no_code_is_offered_before_the_address_is_confirmed(client, auth_app):
    register_only(client)
    page = client.get("/account?lang=en")
    assert "Text me a code" not in page.text and 'name="code"' not in page.text
    assert "Once your email address is confirmed, we can text a code" in page.text
    confirm_in_another_tab(client, auth_app)
    page = client.get("/account?lang=en")
    assert "Text me a code" in page.text and 'name="code"' in page.text
