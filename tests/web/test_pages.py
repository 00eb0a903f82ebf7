"""The web pages over the public APIs: sign in, petitions, signing, forms that hold."""

from __future__ import annotations

import re

import pytest
from werkzeug.test import Client

from services.petitions.counts import fold_new_signatures
from services.petitions.models import REJECTION_REASONS
from services.petitions.models import db as petitions_db
from tests.auth.helpers import PASSWORD, link_token, messages
from tests.petitions.conftest import make_due_date_pass, open_petition
from tests.petitions.test_lifecycle import _settled

# What the settings form always sends: the catalogue's rejection reasons, ticked.
EVERY_REASON = {f"reason_{reason}": "on" for reason in REJECTION_REASONS}
pytestmark = pytest.mark.usefixtures("councils")


def csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def register_and_confirm(client, auth_app, email="olena@example.org"):
    form = client.get("/register?lang=uk")
    assert form.status_code == 200
    done = client.post(
        "/register?lang=uk",
        data={
            "csrf": csrf(form),
            "name": "Олена Коваль",
            "email": email,
            "phone": "050 123 4567",
            "password": PASSWORD,
        },
    )
    assert done.status_code == 200 and email in done.get_data(as_text=True)
    token = link_token(messages(auth_app, email, "confirm_email")[-1].text_body)
    confirm = {"token": token, "password": PASSWORD}
    assert client.post("/api/auth/email/confirm", json=confirm).status_code == 200


def signed_in_with_role(client, auth_app, email, role="moderator", council="kyiv"):
    """An account with a role in `council`, signed in on this client."""
    from services.auth.accounts.models import User
    from services.auth.councils.domain import grant_role
    from services.auth.models import db as auth_db

    register_and_confirm(client, auth_app, email)
    with auth_app.test_request_context("/"):
        user = auth_db.session.query(User).filter_by(email=email).one()
        grant_role(auth_db.session, actor_id=None, slug=council, user_id=user.id, role=role)
    sign_in(client, email)


def sign_in(client, email="olena@example.org", password=PASSWORD, next_path=None):
    page = client.get("/login?lang=uk")
    url = "/login?lang=uk" + (f"&next={next_path}" if next_path else "")
    return client.post(url, data={"csrf": csrf(page), "email": email, "password": password})


def email_only_petition(client, people, threshold=None, **policy) -> int:
    """An open petition of a council whose signers need only a confirmed address."""
    petition_id = open_petition(client, people, threshold=threshold)
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"signer_verification": "email", **policy},
        headers=people.admin(),
    )
    return petition_id


def test_a_resident_registers_signs_in_and_signs(client, auth_app, people):
    petition_id = open_petition(client, people, title="Ліхтарі на вулиці Шевченка")
    register_and_confirm(client, auth_app)
    signed_in = sign_in(client, next_path=f"/petitions/{petition_id}")
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"].endswith(f"/petitions/{petition_id}")
    assert "HttpOnly" in signed_in.headers["Set-Cookie"]
    assert "SameSite=Lax" in signed_in.headers["Set-Cookie"]

    page = client.get(f"/petitions/{petition_id}?lang=uk")
    html = page.get_data(as_text=True)
    assert "Ліхтарі на вулиці Шевченка" in html and "Олена Коваль" in html
    # A phone is not verified yet: the API's refusal appears on the page, in Ukrainian.
    refused = client.post(f"/petitions/{petition_id}/sign?lang=uk", data={"csrf": csrf(page)})
    assert refused.status_code == 403
    assert "телефон" in refused.get_data(as_text=True)
    assert "Підтвердьте телефон на сторінці свого облікового запису" in refused.text
    client.put(
        "/api/petitions/councils/kyiv/policy",
        json={"signer_verification": "email"},
        headers=people.admin(),
    )
    signed = client.post(f"/petitions/{petition_id}/sign?lang=uk", data={"csrf": csrf(page)})
    assert signed.status_code == 303
    assert signed.headers["Location"].endswith(f"/petitions/{petition_id}")
    thanks = client.get(signed.headers["Location"]).get_data(as_text=True)
    assert "Дякуємо" in thanks


def test_the_petition_page_knows_who_signed_it(client, auth_app, people):
    """After signing: thanks and no contradiction; on any later visit: "you signed",
    never the Sign button again. Before: the name's publication is said."""
    petition_id = email_only_petition(client, people, signer_names_public=True)
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert "Your name will be shown among the signers" in page.text
    assert "Collecting signatures" in page.text  # the state, said
    signed = client.post(f"/petitions/{petition_id}/sign?lang=en", data={"csrf": csrf(page)})
    thanks = client.get(signed.headers["Location"]).text
    assert "Thank you! Your signature was counted." in thanks
    assert "Signature collection has ended." not in thanks
    assert f'action="/petitions/{petition_id}/sign"' not in thanks
    later = client.get(f"/petitions/{petition_id}?lang=en").text
    assert "You signed this petition on" in later
    assert f'action="/petitions/{petition_id}/sign"' not in later
    assert "Thank you!" not in later  # said once
    assert "Signature collection has ended." not in later


def test_a_shared_link_to_a_signed_petition_says_nothing_to_whoever_opens_it(
    client, auth_app, people
):
    """The address after signing once carried the receipt, and the page believed it: a
    signer sharing it told everybody they had signed (no Sign button), and a made-up
    "receipt" or "withdrawn" put any words in the page's green box."""
    petition_id = email_only_petition(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    signed = client.post(f"/petitions/{petition_id}/sign", data={"csrf": csrf(page)})
    receipt = re.search(r"<code>([^<]+)</code>", client.get(signed.headers["Location"]).text)[1]
    assert "receipt" not in signed.headers["Location"]

    other = Client(client.application)
    register_and_confirm(other, auth_app, email="taras@example.org")
    sign_in(other, email="taras@example.org")
    anonymous = Client(client.application)
    for visitor in (other, anonymous):
        for query in (f"receipt={receipt}", "receipt=Your+signature+was+annulled", "withdrawn=1"):
            shown = visitor.get(f"/petitions/{petition_id}?lang=en&{query}").text
            assert "Thank you" not in shown and "signature was withdrawn" not in shown
            # (The language links keep the address's query, escaped, as any page does.)
            assert f"<code>{receipt}</code>" not in shown and "was annulled" not in shown
            assert "You signed this petition" not in shown
    offered = other.get(f"/petitions/{petition_id}?lang=en").text
    assert f'action="/petitions/{petition_id}/sign"' in offered


def test_ones_own_signature_is_in_the_count_at_once(client, auth_app, people, petitions_app):
    """Counts are folded a second or so after signing; the signer's own page counts
    their signature meanwhile, and once folded it is counted once, not twice."""
    petition_id = email_only_petition(client, people, threshold=100)
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    assert ">0 signatures</span>" in page.text
    signed = client.post(f"/petitions/{petition_id}/sign", data={"csrf": csrf(page)})
    assert client.get(f"/api/petitions/petitions/{petition_id}").json["signatures"] == 0
    after = client.get(signed.headers["Location"]).text
    assert ">1 signature</span>" in after and "data-just-signed" in after
    mine = re.search(r"<code>([^<]+)</code>", after)[1]
    others = Client(client.application).get(f"/petitions/{petition_id}?lang=en").text
    assert ">0 signatures</span>" in others  # others see the folded count
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    folded = client.get(f"/petitions/{petition_id}?lang=en").text
    assert ">1 signature</span>" in folded and "data-just-signed" not in folded
    assert mine in folded


def test_the_language_links_of_a_page_answering_a_form_lead_to_a_page(client, auth_app, people):
    petition_id = open_petition(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get(f"/petitions/{petition_id}?lang=en")
    # The phone is not verified: the refusal is a page answering the POST.
    refused = client.post(
        f"/petitions/{petition_id}/sign?lang=en",
        data={"csrf": csrf(page)},
        headers={"Referer": f"http://localhost/petitions/{petition_id}?lang=en"},
    )
    assert refused.status_code == 403
    link = re.search(r'href="([^"]+)" lang="uk"', refused.text).group(1)
    assert link == f"/petitions/{petition_id}?lang=uk"
    assert client.get(link).status_code == 200
    # A page reached by GET keeps its own query.
    listing = client.get("/petitions?state=open&sort=newest&lang=en").text
    link = re.search(r'href="([^"]+)" lang="hu"', listing).group(1).replace("&amp;", "&")
    assert link == "/petitions?state=open&sort=newest&lang=hu"


def test_no_sign_button_once_the_deadline_has_passed(client, auth_app, people, petitions_app):
    """Past its deadline a petition still reads open until the deadline job judges it a
    few seconds later; its page no longer offers to sign it (the API would refuse)."""
    petition_id = email_only_petition(client, people)  # no phone needed
    page = f"/petitions/{petition_id}?lang=en"
    sign_form = f'action="/petitions/{petition_id}/sign"'
    visitor = Client(client.application)  # signed out
    register_and_confirm(client, auth_app)
    sign_in(client)
    assert sign_form in client.get(page).text
    assert "Sign in to sign this petition" in visitor.get(page).text
    assert "Collecting signatures until" in visitor.get(page).text

    make_due_date_pass(petitions_app, petition_id, "deadline_at")
    assert client.get(f"/api/petitions/petitions/{petition_id}").json["state"] == "open"
    for html in (client.get(page).text, visitor.get(page).text):
        assert sign_form not in html and "Sign in to sign this petition" not in html
        assert "Signature collection has ended." in html
        assert "Collecting signatures until" not in html  # nor that it still collects
    assert "Збір підписів завершено." in client.get(f"/petitions/{petition_id}?lang=uk").text
    # A page loaded before the deadline still sends the form: the API refuses, the page
    # that says so no longer offers it again.
    late = client.post(
        f"/petitions/{petition_id}/sign?lang=en", data={"csrf": csrf(client.get(page))}
    )
    assert late.status_code == 409 and sign_form not in late.text
    assert "Signature collection has ended." in late.text


def test_wrong_password_is_shown_next_to_the_form(client, auth_app):
    register_and_confirm(client, auth_app)
    wrong = sign_in(client, password="not the password at all")
    assert wrong.status_code == 401
    assert 'role="alert"' in wrong.get_data(as_text=True)


def test_forms_from_another_site_are_refused(client, auth_app, people):
    petition_id = open_petition(client, people)
    register_and_confirm(client, auth_app)
    sign_in(client)
    forged = client.post(f"/petitions/{petition_id}/sign", data={"csrf": "guess"})
    assert forged.status_code == 403
    # A browser is told so on a page in its language; an API client gets problem+json.
    in_browser = client.post(
        f"/petitions/{petition_id}/sign?lang=uk",
        data={"csrf": "guess"},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert in_browser.status_code == 403 and in_browser.mimetype == "text/html"
    assert 'role="alert"' in in_browser.get_data(as_text=True)
    assert "Оновіть сторінку" in in_browser.get_data(as_text=True)
    assert forged.mimetype == "application/problem+json"
    assert (
        client.post("/login", data={"email": "x@example.org", "password": "x"}).status_code == 403
    )


def test_sign_in_never_redirects_off_site(client, auth_app):
    register_and_confirm(client, auth_app)
    for target in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/%5Cevil.example",
    ):
        response = sign_in(client, next_path=target)
        assert response.status_code == 303
        assert "evil" not in response.headers["Location"]


def test_the_petition_list_sorts_and_pages(client, people):
    for n in range(3):
        open_petition(client, people, title=f"Петиція номер {n + 1} про громаду")
    page = client.get("/petitions?lang=uk&sort=newest")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.index("номер 3") < html.index("номер 1")
    bad = client.get("/petitions?lang=uk&cursor=forged")
    assert bad.status_code == 422 and 'role="alert"' in bad.get_data(as_text=True)


def test_a_tampered_session_cookie_is_no_session(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    client.set_cookie("viche_session", "tampered.value", domain="localhost")
    page = client.get("/petitions?lang=en").get_data(as_text=True)
    assert "Sign in" in page


def test_sign_out_revokes_the_session(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/petitions?lang=uk")
    assert "Олена Коваль" in page.get_data(as_text=True)
    out = client.post("/logout", data={"csrf": csrf(page)})
    assert out.status_code == 303
    assert "Олена Коваль" not in client.get("/petitions?lang=uk").get_data(as_text=True)


def test_the_petition_list_filters_by_council_and_state(client, people):
    kyiv = open_petition(client, people, title="Петиція Києва про парк")
    open_petition(client, people, council="oliivka", title="Петиція Оліївки про школу")
    page = client.get("/petitions?lang=uk&council=kyiv&state=open").get_data(as_text=True)
    assert f"/petitions/{kyiv}" in page and "Оліївки" not in page
    assert "Збирає підписи" in page  # the state filter reads in the page's language
    nothing = client.get("/petitions?lang=uk&state=answered").get_data(as_text=True)
    assert "Тут ще немає петицій." in nothing


def test_an_expired_access_token_is_renewed_without_the_visitor_noticing(client, auth_app):
    from datetime import timedelta

    from itsdangerous import URLSafeTimedSerializer

    from tests.support.tokens import make_token

    register_and_confirm(client, auth_app)
    pair = client.post(
        "/api/auth/login", json={"email": "olena@example.org", "password": PASSWORD}
    ).json
    web_app = client.application.apps["web"]
    me_id = client.get("/api/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    expired = make_token(auth_app, str(me_id.json["id"]), ttl=timedelta(minutes=-5))
    cookie = URLSafeTimedSerializer(web_app.config["SECRET_KEY"], salt="viche.web.session").dumps(
        {"access": expired, "refresh": pair["refresh_token"], "name": "Олена Коваль"}
    )
    client.set_cookie("viche_session", cookie, domain="localhost")
    page = client.get("/account?lang=uk")
    assert page.status_code == 200 and "olena@example.org" in page.get_data(as_text=True)
    assert "viche_session=" in page.headers.get("Set-Cookie", "")  # the new pair is kept
