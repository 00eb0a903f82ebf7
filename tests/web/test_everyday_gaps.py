"""What a resident or a moderator meets every day: the password rules before the first
try, the council's language among its settings, councils named in the menu, an outage
that does not sign anyone out, a link used twice, counts that read naturally."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from services.common.client import PEERS_KEY, Peer
from tests.auth.helpers import PASSWORD, answer_mail_requests, link_token, messages, register
from tests.petitions.conftest import add_signers, open_petition
from tests.petitions.test_lifecycle import _settled
from tests.support.tokens import make_token
from tests.web.test_pages import (
    EVERY_REASON,
    csrf,
    register_and_confirm,
    sign_in,
    signed_in_with_role,
)

pytestmark = pytest.mark.usefixtures("councils")
RULES = "At least 10 characters, of which at least 4 different"


def test_the_password_rules_are_beside_the_field_before_the_first_try(client, auth_app):
    form = client.get("/register?lang=en").text
    assert 'aria-describedby="password-hint"' in form
    assert f'<p class="muted" id="password-hint">{RULES}' in form
    assert "aria-invalid" not in form
    short = {"name": "Olena", "email": "olena@example.org", "phone": "050 123 4567"}
    refused = client.post(
        "/register?lang=en", data={"csrf": csrf(client.get("/register")), **short, "password": "x"}
    )
    assert refused.status_code == 422
    # Both read with the field: the rules and what was wrong this time.
    assert 'aria-describedby="password-hint password-error" aria-invalid="true"' in refused.text
    assert RULES in refused.text and 'id="password-error" role="alert"' in refused.text

    # The reset page, opened from the email, says them too.
    register(client, locale="en")
    client.post("/api/auth/password/forgot", json={"email": "olena@example.org"})
    answer_mail_requests(auth_app)  # as the delivery worker does
    token = link_token(messages(auth_app, "olena@example.org", "reset_password")[-1].text_body)
    page = client.get(f"/api/auth/password/reset?token={token}").text
    assert 'aria-describedby="password-hint"' in page and RULES in page
    weak = client.post("/api/auth/password/reset/form", data={"token": token, "password": "abc"})
    assert weak.status_code == 422
    assert 'aria-describedby="password-hint password-error" aria-invalid="true"' in weak.text


def test_an_admin_sets_the_councils_language_with_the_other_settings(client, auth_app):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    page = client.get("/councils/kyiv/settings?lang=en")
    assert '<option value="uk" lang="uk" selected>Українська</option>' in page.text
    assert 'aria-describedby="default_language-hint"' in page.text
    saved = client.post(
        "/councils/kyiv/settings?lang=en",
        data={"csrf": csrf(page), "default_language": "hu", "threshold": "300", **EVERY_REASON},
    )
    assert saved.status_code == 200 and 'role="status"' in saved.text
    assert '<option value="hu" lang="hu" selected>Magyar</option>' in saved.text
    assert client.get("/api/auth/councils/kyiv").json["default_language"] == "hu"
    # The council's page now opens in its language for a visitor who chose none.
    assert '<html lang="hu">' in client.__class__(client.application).get("/councils/kyiv").text

    # A language nobody offers: refused beside its field, and nothing at all is saved.
    refused = client.post(
        "/councils/kyiv/settings?lang=en",
        data={"csrf": csrf(page), "default_language": "xx", "threshold": "700", **EVERY_REASON},
    )
    assert refused.status_code == 422
    assert 'id="default_language-error" role="alert"' in refused.text
    assert client.get("/api/auth/councils/kyiv").json["default_language"] == "hu"
    assert client.get("/api/petitions/councils/kyiv/policy").json["threshold"] == 300


def test_only_the_councils_admins_change_its_language(client, auth_app):
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    page = client.get("/councils/kyiv/settings")
    refused = client.post(
        "/councils/kyiv/settings", data={"csrf": csrf(page), "default_language": "ru"}
    )
    assert refused.status_code == 403
    # Another council's admin, on this council's address.
    other = client.__class__(client.application)
    signed_in_with_role(other, auth_app, "oliivka@example.org", "admin", council="oliivka")
    page = other.get("/councils/kyiv/settings")
    refused = other.post(
        "/councils/kyiv/settings", data={"csrf": csrf(page), "default_language": "ru"}
    )
    assert refused.status_code == 403
    # And without the form's token, not even its own admin's browser.
    forged = other.post("/councils/oliivka/settings", data={"default_language": "ru"})
    assert forged.status_code == 403
    for council in ("kyiv", "oliivka"):
        assert client.get(f"/api/auth/councils/{council}").json["default_language"] == "uk"


def test_the_menu_names_each_council_and_offers_its_pages_by_role(client, auth_app, people):
    from services.auth.councils.domain import update_council
    from services.auth.models import db as auth_db

    with auth_app.test_request_context("/"):
        update_council(auth_db.session, actor_id=None, slug="kyiv", changes={"name": "Київ"})
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    menu = client.get("/petitions?lang=uk").text.split("</header>")[0]
    # On a phone, closed, its initial shows; its name is read and shows as the title.
    assert (
        '<summary title="Київ"><span class="council-initial" aria-hidden="true">К</span>'
        '<span class="council-name">Київ</span></summary>'
    ) in menu
    assert 'href="/councils/kyiv/moderation"' in menu and 'href="/councils/kyiv/polls"' in menu
    assert 'href="/councils/kyiv/settings"' not in menu  # a moderator's, not an admin's
    admin = client.__class__(client.application)
    signed_in_with_role(admin, auth_app, "admin@example.org", "admin")
    menu = admin.get("/petitions?lang=uk").text.split("</header>")[0]
    assert 'href="/councils/kyiv/settings"' in menu and 'href="/councils/kyiv/roles"' in menu
    assert ">kyiv<" not in menu


def auth_down(environ, start_response):
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"down"]


@pytest.fixture
def outage(client):
    """Switch auth off for the web pages (and back on) while the test runs."""
    peers = client.application.apps["web"].extensions[PEERS_KEY]
    real = peers["auth"]

    class Switch:
        def __enter__(self):
            peers["auth"] = Peer(auth_down, real.prefix)

        def __exit__(self, *exc):
            peers["auth"] = real

    yield Switch()
    peers["auth"] = real


def test_an_auth_outage_on_the_account_page_keeps_the_session(client, auth_app, outage):
    register_and_confirm(client, auth_app)
    sign_in(client)
    with outage:
        page = client.get("/account?lang=en")
    assert page.status_code == 503
    assert "unavailable for a moment" in page.text and "still signed in" in page.text
    assert "viche_session" not in str(page.headers.getlist("Set-Cookie"))  # kept as it was
    back = client.get("/account?lang=en")
    assert back.status_code == 200 and "Олена Коваль" in back.text


def test_an_outage_while_the_access_token_expired_keeps_the_session(client, auth_app, outage):
    register_and_confirm(client, auth_app)
    pair = client.post("/api/auth/login", json={"email": "olena@example.org", "password": PASSWORD})
    me = client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {pair.json['access_token']}"}
    )
    expired = make_token(auth_app, str(me.json["id"]), ttl=timedelta(minutes=-5))
    secret = client.application.apps["web"].config["SECRET_KEY"]
    cookie = URLSafeTimedSerializer(secret, salt="viche.web.session").dumps(
        {"access": expired, "refresh": pair.json["refresh_token"], "name": "Олена Коваль"}
    )
    client.set_cookie("viche_session", cookie, domain="localhost")
    with outage:
        page = client.get("/account?lang=en")
        assert page.status_code == 503 and "still signed in" in page.text
        export = client.get("/account/export?lang=en")
        assert export.status_code == 503 and "still signed in" in export.text
    back = client.get("/account?lang=en")  # auth is back: the token is renewed
    assert back.status_code == 200 and "Олена Коваль" in back.text


def test_a_confirmation_link_used_again_says_so_and_offers_to_sign_in(client, auth_app):
    register(client, locale="en")
    token = link_token(messages(auth_app, "olena@example.org", "confirm_email")[-1].text_body)
    form = {"token": token, "password": PASSWORD}
    assert client.post("/api/auth/email/confirm/form", data=form).status_code == 200
    again = client.post("/api/auth/email/confirm/form", data=form)
    assert again.status_code == 400
    assert "This link was used already: the address is confirmed. Sign in." in again.text
    assert 'href="/login"' in again.text
    # The API says the same, in a way a client can act on; no password is needed to
    # learn it, and none is checked (or counted as a failed sign-in).
    answer = client.post("/api/auth/email/confirm", json={"token": token, "password": "x"})
    assert answer.status_code == 400 and answer.json["type"].endswith(":invalid-link")
    assert answer.json["used"] is True
    # A link that is no link stays a plain refusal, with no sign-in offered.
    forged = client.post("/api/auth/email/confirm/form", data={**form, "token": token[:-2]})
    assert forged.status_code == 400 and 'href="/login"' not in forged.text
    assert "used" not in client.post("/api/auth/email/confirm", json={**form, "token": "x"}).json


def test_a_reset_link_used_again_says_so_and_offers_to_sign_in(client, auth_app):
    register(client, locale="en")
    client.post("/api/auth/password/forgot", json={"email": "olena@example.org"})
    answer_mail_requests(auth_app)  # as the delivery worker does
    token = link_token(messages(auth_app, "olena@example.org", "reset_password")[-1].text_body)
    form = {"token": token, "password": "a brand new passphrase"}
    assert client.post("/api/auth/password/reset/form", data=form).status_code == 200
    again = client.post("/api/auth/password/reset/form", data={**form, "password": "x"})
    assert again.status_code == 400 and "This link was used already" in again.text
    assert 'href="/login"' in again.text
    answer = client.post("/api/auth/password/reset", json=form)
    assert answer.status_code == 400 and answer.json["used"] is True
    # The password set with the link still holds.
    assert (
        client.post(
            "/api/auth/login", json={"email": "olena@example.org", "password": form["password"]}
        ).status_code
        == 200
    )


# How 0, 1, 2, 5 and 21 signatures read: Ukrainian and Russian have three forms,
# Turkish and Hungarian keep the noun singular after a number.
COUNTS = (0, 1, 2, 5, 21)
READS = {
    "uk": ("0 підписів", "1 підпис", "2 підписи", "5 підписів", "21 підпис"),
    "ru": ("0 подписей", "1 подпись", "2 подписи", "5 подписей", "21 подпись"),
    "tr": ("0 imza", "1 imza", "2 imza", "5 imza", "21 imza"),
    "hu": ("0 aláírás", "1 aláírás", "2 aláírás", "5 aláírás", "21 aláírás"),
    "en": ("0 signatures", "1 signature", "2 signatures", "5 signatures", "21 signatures"),
}


def test_signature_counts_read_naturally_in_every_language(client, people, petitions_app):
    from services.petitions.counts import fold_new_signatures
    from services.petitions.models import db as petitions_db

    ids = []
    for n, count in enumerate(COUNTS):
        petition_id = open_petition(client, people, threshold=1000, title=f"Петиція номер {n}")
        if count:
            add_signers(petitions_app, petition_id, count, first=1000 * n + 1)
        ids.append(petition_id)
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    for lang, reads in READS.items():
        pages = {
            "list": client.get(f"/petitions?lang={lang}").text,
            "council": client.get(f"/councils/kyiv?lang={lang}").text,
        }
        for where, html in pages.items():
            for read in reads:
                # The whole count: "1 підпис" is not found inside "21 підпис".
                assert re.search(rf"(?<![\d\w]){read}(?!\w)", html), (lang, where, read)
        petition = client.get(f"/petitions/{ids[-1]}?lang={lang}").text
        assert re.search(rf">{reads[-1]}</span>", petition), lang
