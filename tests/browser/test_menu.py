"""The header menu of a person with roles in councils: councils by name, each item whole
on a phone's screen, nothing overlapping or sticking out; the password rules in view."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ENABLED, MODERATOR_PASSWORD, check_accessibility
from tests.browser.test_journeys import sign_in_browser

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")

# The header's items as boxes: each on how many lines it is drawn, and where.
HEADER_ITEMS = """() => [...document.querySelectorAll(
    "header.site .brand, header.site .menu > li, header.site .languages > li")]
  .filter((e) => e.offsetParent !== null)
  .map((e) => { const r = e.getBoundingClientRect();
    return {text: e.textContent.trim().slice(0, 40), left: r.left, right: r.right,
            top: r.top, bottom: r.bottom,
            lines: [...e.querySelectorAll("a, button, summary")]
              .map((x) => x.getClientRects().length)}; })"""
WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
  .map((e) => `${e.tagName}.${e.className} ${(e.textContent || "").slice(0, 40)}`)"""


def overlapping(items: list[dict]) -> list[tuple[str, str]]:
    return [
        (a["text"], b["text"])
        for n, a in enumerate(items)
        for b in items[n + 1 :]
        if a["left"] < b["right"] - 0.5
        and b["left"] < a["right"] - 0.5
        and a["top"] < b["bottom"] - 0.5
        and b["top"] < a["bottom"] - 0.5
    ]


def assert_header_fits(page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, (overflow, page.evaluate(WIDER_THAN_THE_SCREEN))
    items = page.evaluate(HEADER_ITEMS)
    assert overlapping(items) == [], items
    # Every link and button of the menu on one line: "Sign out" never split in two.
    split = [item["text"] for item in items if any(lines > 1 for lines in item["lines"])]
    assert split == [], items


@pytest.mark.parametrize("width", [360, 1280])
def test_the_menu_names_councils_and_fits_the_screen(suite, open_page, width):
    # Two of the councils share an initial.
    names = {
        "menu-a": "Олександрівська селищна громада",
        "menu-b": "Ромашки",
        "menu-c": "Олешки",
    }
    for slug, name in names.items():
        suite.cli("auth", "create-council", f"{slug}-{width}", name, "--language", "uk")
    email = f"menu-admin-{width}@example.org"
    suite.moderator(f"menu-a-{width}", email=email)
    for slug in ("menu-b", "menu-c"):
        suite.cli("auth", "grant-role", f"{slug}-{width}", email, "moderator")
    page = open_page("admin", viewport={"width": width, "height": 740})
    sign_in_browser(page, suite, "uk", email, MODERATOR_PASSWORD)
    page.goto(f"{suite.url}/petitions?lang=uk")
    header = page.locator("header.site")
    for name in names.values():
        assert header.locator("summary", has_text=name).count() == 1
    assert f"menu-a-{width}" not in header.inner_text()
    if width == 360:  # closed, each council by a badge of its own
        badges = header.locator(".council-initial").all_inner_texts()
        assert sorted(badges) == ["ОЛ", "ОС", "Р"], badges
    assert_header_fits(page)
    check_accessibility(page)
    page.screenshot_step(f"menu-closed-{width}")

    # A council's pages open under its name; the other council offers no settings.
    page.locator("summary", has_text=names["menu-a"]).click()
    assert_header_fits(page)
    check_accessibility(page)
    page.screenshot_step(f"menu-open-{width}")
    page.locator("summary", has_text=names["menu-b"]).click()
    other = page.locator(".council-menu", has_text=names["menu-b"])
    assert other.get_by_role("link", name="Налаштування").count() == 0
    assert_header_fits(page)
    page.locator(".council-menu", has_text=names["menu-a"]).get_by_role(
        "link", name="Налаштування"
    ).click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/councils/menu-a-{width}/settings")
    assert page.locator("#default_language").input_value() == "uk"
    page.screenshot_step(f"settings-{width}")


def test_the_password_rules_are_read_with_the_field(suite, page):
    page.goto(f"{suite.url}/register?lang=en")
    hint = page.locator("#password-hint")
    assert hint.is_visible() and "At least 10 characters" in hint.inner_text()
    described = page.locator("#password").get_attribute("aria-describedby")
    assert described == "password-hint"
    check_accessibility(page)
