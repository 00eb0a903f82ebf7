"""Roles by invitation on the web: the admin invites from the roles page, the invitee
signs in from the emailed link and accepts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client

from tests.auth.helpers import bearer, link_token, login, messages
from tests.web.test_pages import csrf, register_and_confirm, sign_in, signed_in_with_role

pytestmark = pytest.mark.usefixtures("councils")
# The council in the header's menu, there once a role in it is held.
IN_THE_MENU = '<span class="council-name">Kyiv</span>'


def invite_from_the_page(client, email="olena@example.org", role="moderator"):
    page = client.get("/councils/kyiv/roles?lang=en")
    assert "Invite by email" in page.text
    return client.post(
        "/councils/kyiv/invitations?lang=en",
        data={"csrf": csrf(page), "email": email, "role": role},
    )


def test_an_admin_invites_and_the_invitee_signs_in_and_accepts(client, auth_app, gateway):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    sent = invite_from_the_page(client)
    assert sent.status_code == 303
    roles = client.get(sent.headers["Location"] + "?lang=en").text
    assert "The invitation is sent." in roles
    assert "Invitations waiting for an answer" in roles and "olena@example.org" in roles
    link = messages(auth_app, "olena@example.org", "role_invitation")[-1].text_body
    path = urlsplit(next(w for w in link.split() if "/invitation?token=" in w))

    invitee = Client(gateway)
    register_and_confirm(invitee, auth_app)
    away = invitee.get(f"{path.path}?{path.query}")
    assert away.status_code == 303 and "/login" in away.headers["Location"]
    back = parse_qs(urlsplit(away.headers["Location"]).query)["next"][0]
    assert back.startswith("/invitation?token=")
    signed = sign_in(invitee, next_path=back.replace("?", "%3F").replace("&", "%26"))
    assert signed.headers["Location"] == back
    offer = invitee.get(back + "&lang=en")
    assert offer.status_code == 200
    assert "Kyiv" in offer.text and "Moderator" in offer.text and "Accept the role" in offer.text
    assert IN_THE_MENU not in offer.text  # opening the page accepted nothing
    accepted = invitee.post(
        "/invitation?lang=en", data={"csrf": csrf(offer), "token": link_token(link)}
    )
    assert accepted.status_code == 303 and accepted.headers["Location"].endswith("/councils/kyiv")
    home = invitee.get("/councils/kyiv?lang=en").text
    assert "The invitation is accepted" in home and IN_THE_MENU in home
    assert invitee.get("/councils/kyiv/moderation").status_code == 200
    assert "Invitations waiting" not in client.get("/councils/kyiv/roles?lang=en").text
    again = invitee.post(
        "/invitation?lang=en", data={"csrf": csrf(offer), "token": link_token(link)}
    )
    assert again.status_code == 400 and "accepted already" in again.text


def test_another_account_sees_the_refusal_not_the_button(client, auth_app, gateway):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    invite_from_the_page(client, "someone@example.org")
    token = link_token(messages(auth_app, "someone@example.org", "role_invitation")[-1].text_body)
    mallory = Client(gateway)
    register_and_confirm(mallory, auth_app, "mallory@example.org")
    sign_in(mallory, "mallory@example.org")
    shown = mallory.get(f"/invitation?token={token}&lang=en")
    assert shown.status_code == 403 and "another address" in shown.text
    assert "Accept the role" not in shown.text
    page = mallory.get("/petitions")
    forced = mallory.post("/invitation?lang=en", data={"csrf": csrf(page), "token": token})
    assert forced.status_code == 403
    assert IN_THE_MENU not in mallory.get("/petitions?lang=en").text


def test_an_invitation_to_a_role_held_already_says_so(client, auth_app, gateway):
    """An invitation answers alike for every address, so one may reach a person who
    holds the role: its page says there is nothing to accept, and offers no button."""
    moderator = Client(gateway)
    signed_in_with_role(moderator, auth_app, "olena@example.org", "moderator")
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    assert invite_from_the_page(client, "olena@example.org").status_code == 303
    token = link_token(messages(auth_app, "olena@example.org", "role_invitation")[-1].text_body)
    shown = moderator.get(f"/invitation?token={token}&lang=en")
    assert shown.status_code == 200 and "You hold this role already" in shown.text
    assert "Accept the role" not in shown.text
    # As an administrator, it is another role: offered.
    assert invite_from_the_page(client, "olena@example.org", role="admin").status_code == 303
    token = link_token(messages(auth_app, "olena@example.org", "role_invitation")[-1].text_body)
    offered = moderator.get(f"/invitation?token={token}&lang=en")
    assert "Accept the role" in offered.text and "You hold this role already" not in offered.text


def test_the_invitation_form_shows_errors_and_withdraws(client, auth_app):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    wrong = invite_from_the_page(client, "not an address")
    assert wrong.status_code == 422
    assert 'id="invite_email-error"' in wrong.text and 'value="not an address"' in wrong.text
    invite_from_the_page(client, "olena@example.org", "admin")
    page = client.get("/councils/kyiv/roles?lang=en")
    assert "Yes, withdraw the invitation" in page.text
    invitation_id = page.text.split('id="invitation-', 1)[1].split('"', 1)[0]
    gone = client.post(
        f"/councils/kyiv/invitations/{invitation_id}/withdraw", data={"csrf": csrf(page)}
    )
    assert gone.status_code == 303
    after = client.get("/councils/kyiv/roles?lang=en").text
    assert "The invitation is withdrawn" in after and "olena@example.org" not in after
    missing = client.post("/councils/kyiv/invitations/999999/withdraw", data={"csrf": csrf(page)})
    assert missing.status_code == 404


def test_a_moderator_cannot_invite_from_a_forged_form(client, auth_app):
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    page = client.get("/petitions")
    refused = client.post(
        "/councils/kyiv/invitations",
        data={"csrf": csrf(page), "email": "friend@example.org", "role": "admin"},
    )
    assert refused.status_code == 403
    assert messages(auth_app, "friend@example.org") == []


def test_a_role_granted_by_number_takes_its_invitation_off_the_roles_page(client, auth_app):
    """The platform admin grants by account number the role an invitation of that
    account's address waits on: the page lists the role, not the invitation too, and
    the link says it is withdrawn."""
    from tests.web.test_admin_and_account_changes import platform_admin

    invitee = Client(client.application)
    register_and_confirm(invitee, auth_app)
    sign_in(invitee)
    olena_id = str(client.get("/api/auth/me", headers=bearer(login(client).json)).json["id"])
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    platform_admin(auth_app, "admin@example.org")
    sign_in(client, "admin@example.org")
    invite_from_the_page(client)
    invite_from_the_page(client, role="admin")
    page = client.get("/councils/kyiv/roles?lang=en")
    assert page.text.count("<td>olena@example.org</td>") == 2
    granted = client.post(
        "/councils/kyiv/roles/grant",
        data={"csrf": csrf(page), "user_id": olena_id, "role": "moderator"},
    )
    assert granted.status_code == 303
    after = client.get("/councils/kyiv/roles?lang=en").text
    assert f"<td>{olena_id}</td>" in after
    waiting = after.split("Invitations waiting for an answer", 1)[1]
    assert waiting.count("<td>olena@example.org</td>") == 1 and "<td>Administrator</td>" in waiting
    first = messages(auth_app, "olena@example.org", "role_invitation")[0]
    shown = invitee.get(f"/invitation?token={link_token(first.text_body)}&lang=en")
    assert shown.status_code == 400 and "withdrawn" in shown.text
    assert "Accept the role" not in shown.text


@pytest.mark.parametrize(
    "token", ["", "a/b", "..%2F..%2Fme", "x" * 5000, "%00", "a b", "https://evil.example/"]
)
def test_a_mangled_link_is_a_clear_refusal_never_a_fault(client, auth_app, token):
    register_and_confirm(client, auth_app)
    sign_in(client)
    shown = client.get(f"/invitation?token={token}&lang=en")
    assert 400 <= shown.status_code < 500 and "Accept the role" not in shown.text
    page = client.get("/petitions")
    sent = client.post("/invitation?lang=en", data={"csrf": csrf(page), "token": token})
    assert 400 <= sent.status_code < 500
    assert "evil" not in sent.headers.get("Location", "")
