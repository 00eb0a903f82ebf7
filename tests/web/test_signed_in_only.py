"""The pages and forms for signed-in visitors only (session.signed_in_page and
signed_in_form): anyone else is sent to sign in, then back to the page (a form's: the
page it was on, as its own address may take no GET); a form without its page's CSRF
token is refused before anything else, signed in or not."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.test_pages import csrf, register_and_confirm, sign_in

pytestmark = pytest.mark.usefixtures("councils")

# Each of them is tried here; a route that loses its decorator fails the test. A new one
# is tried without being listed.
SIGNED_IN_ONLY = {
    "pages.my_petitions",
    "pages.new_petition",
    "pages.file_petition",
    "account.account",
    "account.export_my_data",
    "account.phone_code",
    "account.phone_verify",
    "account.resend_confirmation",
    "account.change_password",
    "account.change_name",
    "account.change_contact",
    "account.delete_account",
    "council.moderation",
    "council.decide",
    "council.respond",
    "council.invalidate",
    "council.revert_invalidation",
    "council.signers_csv",
    "council.manage_polls",
    "council.create_poll",
    "council.change_draft",
    "council.delete_draft",
    "council.move_poll",
    "council.settings",
    "council.save_settings",
    "council.roles",
    "council.change_role",
    "council.invite",
    "council.withdraw_invitation",
}


def signed_in_routes(web) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every route behind signed_in_page or signed_in_form,
    at an address that reaches it: a council, an id, or a word its handler checks only
    after the sign-in."""
    adapter = web.url_map.bind("localhost")
    found = []
    for rule in web.url_map.iter_rules():
        if not getattr(web.view_functions[rule.endpoint], "requires_sign_in", False):
            continue
        values = {
            name: "kyiv" if name == "council" else 1 if name.endswith("_id") else "x"
            for name in rule.arguments
        }
        path = adapter.build(rule.endpoint, values)
        method = "POST" if "POST" in rule.methods else "GET"
        assert adapter.match(path, method=method)[0] == rule.endpoint, path
        found.append((rule.endpoint, method, path))
    return found


def test_signed_out_visitors_are_sent_to_sign_in_and_forms_need_their_token(client, gateway):
    routes = signed_in_routes(gateway.apps["web"])
    lost = SIGNED_IN_ONLY - {endpoint for endpoint, _, _ in routes}
    assert not lost, f"no longer behind signed_in_page or signed_in_form: {lost}"
    token = csrf(client.get("/login"))  # a signed-out visitor's session has one too
    page = "http://localhost/councils/kyiv"  # the page a form was on
    for _, method, path in routes:
        if method == "GET":
            away = client.get(path)
            back = path
        else:
            # CSRF first: without the token, refused rather than sent to sign in.
            assert client.post(path, data={}).status_code == 403, path
            away = client.post(path, data={"csrf": token}, headers={"Referer": page})
            back = "/councils/kyiv"
        assert away.status_code == 303, path
        assert away.headers["Location"].endswith(f"/login?next={back}"), path


def test_a_form_sends_the_signed_out_back_to_its_page_never_to_its_own_address(client):
    token = csrf(client.get("/login"))
    for referer, back in (
        (
            "http://localhost/councils/kyiv/moderation?cursor=abc",
            "/councils/kyiv/moderation?cursor=abc",
        ),
        ("https://elsewhere.example/councils/kyiv", "/"),  # not one of our pages
        (None, "/"),
    ):
        headers = {"Referer": referer} if referer else {}
        away = client.post("/account/password", data={"csrf": token}, headers=headers)
        assert away.status_code == 303 and next_page(away) == back
    # A page keeps its query: back where the visitor was.
    away = client.get("/councils/kyiv/moderation?cursor=abc")
    assert next_page(away) == "/councils/kyiv/moderation?cursor=abc"


def next_page(redirect) -> str:
    """Where the sign-in page the visitor is sent to will send them back to."""
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/login"
    return parse_qs(location.query)["next"][0]


def test_a_signed_in_visitors_form_without_its_token_is_refused(client, gateway, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    for _, method, path in signed_in_routes(gateway.apps["web"]):
        if method == "POST":
            refused = client.post(path, data={"csrf": "from another site"})
            assert refused.status_code == 403, path
