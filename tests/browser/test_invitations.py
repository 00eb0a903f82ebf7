"""An admin invites a person to a role by email, in Chromium: the link arrives in the dev
outbox, the invitee signs in from it and accepts, and the role is theirs."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ENABLED, PASSWORD, check_accessibility
from tests.browser.test_journeys import open_in_dev_outbox, sign_in_browser

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")


def confirmed_account(suite, name: str, email: str, phone: str) -> None:
    body = {"name": name, "email": email, "password": PASSWORD, "phone": phone}
    assert suite.api("POST", "/api/auth/register", body)[0] == 202
    token = next(
        link.split("token=", 1)[1] for link in suite.outbox_links(email) if "token=" in link
    )
    confirm = {"token": token, "password": PASSWORD}
    assert suite.api("POST", "/api/auth/email/confirm", confirm)[0] == 200


def test_an_admin_invites_by_email_and_the_invitee_accepts(suite, open_page):
    council = "invited"
    suite.cli("auth", "create-council", council, "Громада запрошень", "--language", "uk")
    confirmed_account(suite, "Admin Anna", "anna@example.org", "050 700 0001")
    suite.cli("auth", "grant-role", council, "anna@example.org", "admin")
    confirmed_account(suite, "Mykola Invitee", "mykola@example.org", "050 700 0002")

    admin = open_page("admin")
    sign_in_browser(admin, suite, "en", "anna@example.org")
    admin.goto(f"{suite.url}/councils/{council}/roles?lang=en")
    check_accessibility(admin)
    admin.fill("#invite_email", "mykola@example.org")
    admin.select_option("#invite_role", "moderator")
    admin.get_by_role("button", name="Send the invitation").click()
    admin.wait_for_selector("[role=status]")
    assert "mykola@example.org" in admin.locator("main").inner_text()
    check_accessibility(admin)
    admin.screenshot_step("invited")

    invitee = open_page("invitee")
    open_in_dev_outbox(invitee, suite, "mykola@example.org")
    invitee.locator("pre a", has_text="/invitation?token=").click()
    invitee.wait_for_url(re.compile(r"/login\?"))  # not signed in here: sign in first
    invitee.fill("#email", "mykola@example.org")
    invitee.fill("#password", PASSWORD)
    invitee.click("main button[type=submit]")
    invitee.wait_for_url(re.compile(r"/invitation\?token="))
    check_accessibility(invitee)
    assert "Громада запрошень" in invitee.locator("main").inner_text()
    invitee.screenshot_step("invitation")
    invitee.locator("main button[type=submit]").click()
    invitee.wait_for_url(re.compile(rf"/councils/{council}$"))
    assert invitee.locator("[role=status]").is_visible()  # "the role is yours"
    menu = invitee.locator("header nav .council-menu summary")
    assert "Громада запрошень" in menu.all_inner_texts()  # its pages, under its name
    invitee.screenshot_step("accepted")

    admin.goto(f"{suite.url}/councils/{council}/roles?lang=en")
    roles = admin.locator("main table").first.inner_text()
    assert "Mykola Invitee" in roles and "Moderator" in roles
    assert "Invitations waiting" not in admin.locator("main").inner_text()
    admin.screenshot_step("role-shown")
    # On a phone the table scrolls within itself (a shade says more waits on the right),
    # and nothing else on the page moves sideways.
    admin.set_viewport_size({"width": 360, "height": 740})
    admin.goto(f"{suite.url}/councils/{council}/roles?lang=uk")
    assert admin.evaluate("document.scrollingElement.scrollWidth") <= 360
    admin.screenshot_step("roles-on-a-phone")
