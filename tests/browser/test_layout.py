"""What a page shows fits where it is shown, on a phone and on a wide screen: the header
in a few lines, a select's chosen option whole, a form's button apart from what follows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    ENABLED,
    MODERATOR_PASSWORD,
    PASSWORD,
    _next_phone,
    check_accessibility,
)
from tests.browser.test_journeys import sign_in_browser
from tests.browser.test_menu import assert_header_fits

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")

LANGUAGES = ("uk", "en", "ru", "tr", "hu")
# A select cuts its text inside its own box (its scrollWidth is its clientWidth
# whatever it holds): the chosen option's text is laid out apart, in the width the
# select gives it (less its arrow, 16 px at the least), and must fit the height the
# select has.
CHOSEN_TEXT = """(select) => {
  const style = getComputedStyle(select);
  const padding = (a, b) => parseFloat(style[a]) + parseFloat(style[b]);
  const probe = document.createElement("div");
  probe.style.cssText = `position: absolute; visibility: hidden; white-space: normal;
    font: ${style.font}; line-height: ${style.lineHeight};
    width: ${select.clientWidth - padding("paddingLeft", "paddingRight") - 16}px`;
  probe.textContent = select.selectedOptions[0].text;
  document.body.append(probe);
  const needed = probe.getBoundingClientRect().height;
  probe.remove();
  return {text: probe.textContent, needed,
          has: select.clientHeight - padding("paddingTop", "paddingBottom")};
}"""
# Each form's button, and how far below it the next label starts.
BUTTON_GAPS = """() => [...document.querySelectorAll("main form button")].map((button) => {
  const labels = [...document.querySelectorAll("main label")].filter((label) =>
    button.compareDocumentPosition(label) & Node.DOCUMENT_POSITION_FOLLOWING);
  if (!labels.length) return null;
  return {button: button.textContent.trim(), label: labels[0].textContent.trim(),
          gap: labels[0].getBoundingClientRect().top - button.getBoundingClientRect().bottom};
}).filter(Boolean)"""


def registered(suite, email: str) -> None:
    """An account whose address is confirmed and whose phone waits for its code."""
    suite.confirmed_account(email, PASSWORD, "Layout", _next_phone())


def header_height(page) -> float:
    return page.evaluate("() => document.querySelector('header.site').offsetHeight")


def assert_header_compact(page, url: str) -> None:
    """At 360 px wide, in every language: under 120 px, nothing sticking out; axe-clean."""
    for language in LANGUAGES:
        page.goto(f"{url}/petitions?lang={language}")
        assert header_height(page) < 120, language
        assert_header_fits(page)
    check_accessibility(page)
    page.screenshot_step("header")


def test_the_header_takes_a_few_lines_on_a_phone(suite, open_page):
    email = "header-resident@example.org"
    registered(suite, email)
    visitor = open_page("visitor", viewport={"width": 360, "height": 740})
    resident = open_page("resident", viewport={"width": 360, "height": 740})
    sign_in_browser(resident, suite, "en", email)
    for page in (visitor, resident):
        assert_header_compact(page, suite.url)
    # The same person as admin of a council with a long name, signed in anew (the token
    # names the roles; one account less to register: registrations are counted per hour).
    council = "Вишнівська сільська територіальна громада"
    suite.cli("auth", "create-council", "header-admin", council, "--language", "uk")
    for role in ("moderator", "admin"):
        suite.cli("auth", "grant-role", "header-admin", email, role)
    admin = open_page("admin", viewport={"width": 360, "height": 740})
    sign_in_browser(admin, suite, "en", email)
    assert_header_compact(admin, suite.url)
    # Each language is a link named by its name; only its short name shows.
    ukrainian = visitor.get_by_role("link", name="Українська", exact=True)
    assert ukrainian.locator(".language-code").inner_text() == "УКР"
    link = visitor.get_by_role("link", name="Magyar", exact=True)
    assert link.bounding_box()["width"] < 40
    link.focus()
    visitor.keyboard.press("Enter")
    # The page that loads then is in Hungarian (waiting for it, not for the old one).
    expect(visitor.locator("html")).to_have_attribute("lang", "hu")

    # The admin's council menu, closed, is a badge with the council's initial; it is
    # named by the council's name, which shows as its title and, once the menu is opened
    # from the keyboard, above its pages: nothing is cut off.
    summary = admin.locator(".council-menu summary")
    expect(summary).to_have_accessible_name(council)
    assert summary.get_attribute("title") == council
    assert summary.locator(".council-initial").inner_text() == "В"
    assert summary.bounding_box()["width"] < 40
    summary.focus()
    admin.keyboard.press("Enter")
    name = admin.locator(".council-menu .council-name")
    expect(name).to_be_visible()
    shown = name.evaluate("e => [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().width]")
    assert shown[0] <= shown[1] and shown[2] > 100, shown
    assert_header_fits(admin)
    check_accessibility(admin)
    admin.screenshot_step("council-menu-open")
    admin.keyboard.press("Tab")
    expect(admin.get_by_role("link", name="Moderálás")).to_be_focused()
    for _ in range(2):
        admin.keyboard.press("Tab")
    expect(admin.get_by_role("link", name="Beállítások")).to_be_focused()
    admin.keyboard.press("Enter")
    admin.wait_for_url("**/councils/header-admin/settings")


def test_a_long_name_keeps_the_phone_header_short_and_is_read_whole(suite, open_page):
    name = "Szentgyörgyvölgyi-Kovácsné Bartha Zsófia Erzsébet"
    email = "long-name@example.org"
    suite.confirmed_account(email, PASSWORD, name, _next_phone())
    page = open_page("long-name", viewport={"width": 360, "height": 740})
    sign_in_browser(page, suite, "hu", email)
    assert_header_compact(page, suite.url)
    # Cut short on the screen, the name is whole for a screen reader and as the title.
    account = page.locator("header.site a.who")
    expect(account).to_have_accessible_name(name)
    assert account.get_attribute("title") == name
    assert account.bounding_box()["width"] < 360 * 0.6


@pytest.mark.parametrize("width", [360, 1280])
def test_a_select_shows_its_chosen_option_whole(suite, open_page, width):
    council = f"layout-{width}"
    suite.cli("auth", "create-council", council, "Вишневе", "--language", "uk")
    email = f"layout-moderator-{width}@example.org"
    suite.moderator(council, email=email)
    page = open_page("moderator", viewport={"width": width, "height": 740})
    sign_in_browser(page, suite, "uk", email, MODERATOR_PASSWORD)
    for language in LANGUAGES:
        page.goto(f"{suite.url}/councils/{council}/polls?lang={language}")
        for select in ("#method", "#results_visibility"):
            for value in page.eval_on_selector_all(
                f"{select} option", "options => options.map(o => o.value)"
            ):
                page.select_option(select, value)
                shown = page.eval_on_selector(select, CHOSEN_TEXT)
                assert shown["needed"] <= shown["has"] + 1, (language, shown)
                sizes = page.eval_on_selector(select, "s => [s.scrollWidth, s.clientWidth]")
                assert sizes[0] <= sizes[1], (language, select, value)
        if language == "uk":
            page.locator("#method").scroll_into_view_if_needed()
            page.screenshot_step(f"poll-form-{width}")
    check_accessibility(page)


@pytest.mark.parametrize("width", [360, 1280])
def test_a_forms_button_stands_apart_from_the_next_label(suite, open_page, width):
    email = f"layout-buttons-{width}@example.org"
    registered(suite, email)
    page = open_page("resident", viewport={"width": width, "height": 740})
    sign_in_browser(page, suite, "en", email)
    page.goto(f"{suite.url}/account?lang=en")
    gaps = page.evaluate(BUTTON_GAPS)
    pairs = {(gap["button"], gap["label"]) for gap in gaps}
    # The two that touched: one form's button right above the next form's field.
    assert ("Text me a code", "The code from the SMS") in pairs
    assert ("Change the address", "New mobile phone") in pairs
    assert [gap for gap in gaps if gap["gap"] <= 8] == [], gaps
    # A phone number on one line, wherever it is shown, and the page no wider for it.
    numbers = page.locator("main .phone-number")
    assert numbers.count() == 2  # the account's, and the one a code goes to
    assert numbers.evaluate_all("all => all.map((e) => e.getClientRects().length)") == [1, 1]
    assert page.evaluate("() => document.documentElement.scrollWidth - innerWidth") <= 0
    page.screenshot_step(f"account-{width}")
