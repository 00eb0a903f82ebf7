"""A resident changes the password on the account page, in Chromium; a reset link asked
for before says at once that it was used."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ENABLED, PASSWORD, _next_phone, check_accessibility

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")
NEW = "a fresh and different passphrase"


def test_a_resident_changes_the_password_and_an_older_reset_link_says_it_was_used(suite, page):
    email = "changer@example.org"
    account = {"name": "Changer", "email": email, "password": PASSWORD, "phone": _next_phone()}
    assert suite.api("POST", "/api/auth/register", {**account, "locale": "en"})[0] == 202
    token = suite.outbox_link(email, "email/confirm").split("token=", 1)[1]
    assert (
        suite.api("POST", "/api/auth/email/confirm", {"token": token, "password": PASSWORD})[0]
        == 200
    )
    assert suite.api("POST", "/api/auth/password/forgot", {"email": email})[0] == 202
    reset_link = suite.outbox_link(email, "password/reset")  # asked for, then not used

    # Refusals this test asks for: a wrong current password (401), a used link (400).
    page.expected_errors += ["status of 401", "status of 400"]
    page.goto(f"{suite.url}/login?lang=en")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{suite.url}/account?lang=en")
    hint = page.locator("#new_password-hint")
    assert hint.is_visible() and "At least 10 characters" in hint.inner_text()
    assert page.locator("#new_password").get_attribute("aria-describedby") == "new_password-hint"
    check_accessibility(page)
    page.screenshot_step("account-password-form")

    page.fill("#current_password", "not the password")
    page.fill("#new_password", NEW)
    page.get_by_role("button", name="Change the password").click()
    page.wait_for_selector("#current_password-error")
    assert "wrong" in page.locator("#current_password-error").inner_text()
    check_accessibility(page)
    page.screenshot_step("account-password-wrong")

    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", NEW)
    page.get_by_role("button", name="Change the password").click()
    page.wait_for_selector("[role=status]")
    assert "Your password is changed" in page.locator("[role=status]").inner_text()
    assert "Changer" in page.locator("header").inner_text()  # still signed in
    page.screenshot_step("account-password-changed")

    page.goto(reset_link)
    assert "This link was used already" in page.locator("[role=alert]").inner_text()
    assert page.locator("form").count() == 0
    assert page.get_by_role("link", name="Ask for a new link").is_visible()
    check_accessibility(page)
    page.screenshot_step("reset-link-used")
