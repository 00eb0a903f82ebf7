"""A resident keeps a draft and comes back to it, in Chromium: save the draft, find it
under My petitions, edit it, submit it."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ENABLED, check_accessibility
from tests.browser.test_journeys import sign_in_browser

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")


def test_a_draft_saved_found_again_edited_and_submitted(suite, page):
    council = "drafts"
    suite.cli("auth", "create-council", council, "Вишневе", "--language", "uk")
    email = "drafts-author@example.org"
    suite.resident_token(email, "050 300 0001")
    sign_in_browser(page, suite, "en", email)

    page.goto(f"{suite.url}/petitions/new?lang=en")
    page.select_option("#council", council)
    page.fill("#title", "Лавки в парку Перемоги")
    page.fill("#text", "Просимо поставити лавки вздовж головної алеї парку: їх там немає.")
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_selector("[role=status]")
    assert "The draft is saved." in page.locator("[role=status]").inner_text()
    page.screenshot_step("draft-saved")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My petitions").click()
    page.wait_for_load_state()
    check_accessibility(page)
    card = page.locator(".card", has_text="Лавки в парку Перемоги")
    assert "Draft" in card.inner_text()
    page.screenshot_step("my-petitions")
    card.get_by_role("link", name="Edit").click()
    page.wait_for_selector("#edit-title")
    check_accessibility(page)
    assert page.input_value("#edit-title") == "Лавки в парку Перемоги"
    page.fill("#edit-title", "Лавки й урни в парку Перемоги")
    page.get_by_role("button", name="Save the changes").click()
    page.wait_for_selector("[role=status]")
    assert page.locator("h1").inner_text() == "Лавки й урни в парку Перемоги"
    page.screenshot_step("draft-edited")

    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_selector("[role=status]")
    assert "submitted" in page.locator("[role=status]").inner_text()
    assert "Awaiting moderation" in page.locator(".state").inner_text()
    page.screenshot_step("submitted")
    page.goto(f"{suite.url}/petitions/mine?lang=en")
    card = page.locator(".card", has_text="Лавки й урни в парку Перемоги")
    assert "Awaiting moderation" in card.inner_text()
    assert card.get_by_role("link", name="Edit").count() == 0
