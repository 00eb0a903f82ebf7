"""The journeys of the web UI issue, in Chromium, in Ukrainian and in English.

Each step saves a screenshot; any console error fails the test; key pages pass axe-core.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import (
    ENABLED,
    MODERATOR_PASSWORD,
    PASSWORD,
    check_accessibility,
    e164,
)

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")

TEXTS = {
    "uk": {
        "register": "Зареєструватися",
        "sign_in": "Увійти",
        "text_me": "Надіслати мені код у SMS",
        "verify": "Підтвердити",
        "file": "Подати петицію",
        "sign": "Підписати петицію",
        "thanks_signed": "Дякуємо! Ваш підпис враховано.",
        "approve": "Схвалити",
        "publish": "Оприлюднити відповідь",
        "thanks_vote": "Дякуємо! Ваш голос враховано.",
        "already": "вже",
        "send_link": "Надіслати посилання",
    },
    "en": {
        "register": "Register",
        "sign_in": "Sign in",
        "text_me": "Text me a code",
        "verify": "Verify",
        "file": "File the petition",
        "sign": "Sign this petition",
        "thanks_signed": "Thank you! Your signature was counted.",
        "approve": "Approve",
        "publish": "Publish the response",
        "thanks_vote": "Thank you! Your vote was counted.",
        "already": "already",
        "send_link": "Send the link",
    },
}
LANGS = ["uk", "en"]


def register_in_browser(page, suite, lang, email, phone, name="Олена Коваль"):
    page.goto(f"{suite.url}/register?lang={lang}")
    page.fill("#name", name)
    page.fill("#email", email)
    page.fill("#phone", phone)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("[role=status]")
    page.screenshot_step("registered")
    open_in_dev_outbox(page, suite, email)
    page.locator("pre a", has_text="email/confirm").click()
    page.screenshot_step("confirm-email-page")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.screenshot_step("email-confirmed")


def open_in_dev_outbox(page, suite, recipient):
    """What a new user does in `make run`: open the dev outbox and the newest message."""
    page.goto(f"{suite.url}/api/auth/dev/outbox")
    check_accessibility(page)
    page.locator("tr", has_text=recipient).first.locator("a").click()
    page.wait_for_load_state()
    page.screenshot_step("dev-outbox-message")


def sign_in_browser(page, suite, lang, email, password=PASSWORD):
    page.goto(f"{suite.url}/login?lang={lang}")
    check_accessibility(page)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def verify_phone_in_browser(page, suite, lang, phone):
    page.goto(f"{suite.url}/account?lang={lang}")
    page.get_by_role("button", name=TEXTS[lang]["text_me"]).click()
    page.wait_for_selector("#code")
    page.screenshot_step("code-sent")
    outbox = page.context.new_page()  # the dev outbox in a second tab, as a person would
    outbox.screenshot_step = page.screenshot_step
    open_in_dev_outbox(outbox, suite, e164(phone))
    code = re.search(r"\b(\d{6})\b", outbox.locator("pre").inner_text()).group(1)
    outbox.close()
    page.fill("#code", code)
    page.get_by_role("button", name=TEXTS[lang]["verify"], exact=True).click()
    page.wait_for_selector("#phone-verified")
    page.screenshot_step("phone-verified")


@pytest.mark.parametrize("lang", LANGS)
def test_journeys_1_and_2_file_moderate_sign_respond(suite, page, open_page, lang):
    council = f"kyiv-{lang}"
    suite.cli("auth", "create-council", council, "Київ", "--language", "uk")
    moderator = suite.moderator(council, email=f"mod-{lang}@example.org")
    suite.api("PUT", f"/api/petitions/councils/{council}/policy", {"threshold": 3}, moderator)

    # 1. A resident registers, confirms the email, verifies the phone, files a petition.
    email = f"author-{lang}@example.org"
    phone = f"050 100 00{LANGS.index(lang)}1"
    register_in_browser(page, suite, lang, email, phone)
    sign_in_browser(page, suite, lang, email)
    verify_phone_in_browser(page, suite, lang, phone)
    page.goto(f"{suite.url}/petitions/new?lang={lang}")
    check_accessibility(page)
    page.select_option("#council", council)
    page.fill("#title", "Ліхтарі на вулиці Шевченка")
    page.fill("#text", "Просимо встановити ліхтарі на вулиці Шевченка: ввечері там темно.")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/petitions/\d+$"))
    petition_url = page.url
    page.screenshot_step("petition-filed")

    # 2. The moderator approves it in the browser.
    moderation = open_page("moderator")
    sign_in_browser(moderation, suite, lang, f"mod-{lang}@example.org", MODERATOR_PASSWORD)
    moderation.goto(f"{suite.url}/councils/{council}/moderation?lang={lang}")
    check_accessibility(moderation)
    moderation.screenshot_step("moderation-queue")
    moderation.get_by_role("button", name=TEXTS[lang]["approve"]).first.click()
    moderation.wait_for_load_state()
    moderation.screenshot_step("approved")

    # Three residents sign; the author's open page shows the count without reloading.
    page.goto(petition_url)
    count = page.locator("#signature-count")
    before = count.inner_text()
    petition_id = int(petition_url.rsplit("/", 1)[1])
    for n in range(2):  # two sign through the API, as any client may
        token = suite.resident_token(
            f"signer{n}-{lang}@example.org", f"050 200 0{LANGS.index(lang)}0{n}"
        )
        status, _ = suite.api(
            "POST", f"/api/petitions/petitions/{petition_id}/signatures", {}, token
        )
        assert status == 201
    # The third signs in the browser, asking to hear when the council answers.
    signer_email = f"signer2-{lang}@example.org"
    suite.resident_token(signer_email, f"050 200 0{LANGS.index(lang)}02")
    signer = open_page("signer")
    signer.goto(f"{suite.url}/login?lang={lang}")
    signer.fill("#email", signer_email)
    signer.fill("#password", PASSWORD)
    signer.click("main button[type=submit]")
    signer.wait_for_load_state()
    signer.goto(petition_url)
    signer.check("#notify")
    signer.get_by_role("button", name=TEXTS[lang]["sign"]).click()
    signer.get_by_text(TEXTS[lang]["thanks_signed"]).wait_for()
    signer.screenshot_step("signed")
    page.wait_for_function(
        "before => document.getElementById('signature-count').textContent !== before",
        arg=before,
        timeout=25000,
    )
    assert "3" in count.inner_text()
    page.screenshot_step("count-updated")

    # The moderator publishes the response; the signers see it.
    moderation.goto(f"{petition_url}?lang={lang}")
    moderation.select_option("#decision", "supported")
    moderation.fill("#response-text", "Ліхтарі встановимо до зими.")
    moderation.screenshot_step("response-form")
    moderation.get_by_role("button", name=TEXTS[lang]["publish"]).click()
    moderation.wait_for_load_state()
    moderation.screenshot_step("response-published")
    signer.reload()
    signer.get_by_text("Ліхтарі встановимо до зими.").wait_for()
    check_accessibility(signer)
    signer.screenshot_step("signer-sees-the-response")
    page.reload()
    page.get_by_text("Ліхтарі встановимо до зими.").wait_for()
    page.screenshot_step("response-seen")


@pytest.mark.parametrize("lang", LANGS)
def test_journey_3_a_visitor_votes_by_email(suite, page, lang):
    council = f"poll-{lang}"
    suite.cli("auth", "create-council", council, "Громада", "--language", "uk")
    moderator = suite.moderator(council, email=f"pollmod-{lang}@example.org")
    status, created = suite.api(
        "POST",
        "/api/polls/polls",
        {
            "council": council,
            "question": "Звідки ви дізнаєтеся про події в громаді?",
            "options": ["Сайт громади", "Facebook", "Telegram"],
            "language": lang,
        },
        moderator,
    )
    assert status == 201
    suite.api("POST", f"/api/polls/polls/{created['id']}/publish", None, moderator)
    voter = f"voter-{lang}@example.org"

    def vote_and_confirm(step):
        page.goto(f"{suite.url}/polls/{created['id']}?lang={lang}")
        widget = page.frame_locator("iframe.poll")
        widget.get_by_label("Telegram").check()
        widget.locator("#email").fill(voter)
        widget.locator("button[type=submit]").click()
        widget.locator("[role=status]").wait_for()
        page.screenshot_step(f"{step}-pending")
        link = next(u for u in suite.outbox_links(voter) if "/verify?" in u)
        page.goto(link)
        page.locator("main button[type=submit]").click()
        page.wait_for_load_state()
        page.screenshot_step(f"{step}-confirmed")

    vote_and_confirm("first")
    page.get_by_text(TEXTS[lang]["thanks_vote"]).wait_for()
    check_accessibility(page)
    page.expected_errors.append("status of 409")  # the refusal page says why, as a 409
    vote_and_confirm("second")
    refused = page.locator("[role=alert]")
    assert TEXTS[lang]["already"] in refused.inner_text()


@pytest.mark.parametrize("lang", LANGS)
def test_journey_5_a_resident_resets_a_forgotten_password(suite, page, lang):
    email = f"forgetful-{lang}@example.org"
    status, _ = suite.api(
        "POST",
        "/api/auth/register",
        {
            "name": "Forgetful",
            "email": email,
            "password": PASSWORD,
            "phone": f"050 300 0{LANGS.index(lang)}11",
        },
    )
    assert status == 202
    page.goto(f"{suite.url}/password/forgot?lang={lang}")
    check_accessibility(page)
    page.fill("#email", email)
    page.get_by_role("button", name=TEXTS[lang]["send_link"]).click()
    page.wait_for_selector("[role=status]")
    page.screenshot_step("link-sent")
    link = suite.outbox_link(email, "password/reset")
    page.goto(link)
    page.screenshot_step("reset-page")
    page.fill("input[type=password]", "a brand new passphrase")
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()
    page.screenshot_step("password-changed")
    page.goto(f"{suite.url}/login?lang={lang}")
    page.fill("#email", email)
    page.fill("#password", "a brand new passphrase")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "Forgetful" in page.locator("header").inner_text()
    page.screenshot_step("signed-in-with-new-password")


# What sticks out past a phone's screen, to say why a page does not fit.
WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
  .map((e) => `${e.tagName}.${e.className} ${(e.textContent || "").slice(0, 40)}`)"""


def test_first_loads_are_light_and_fit_a_phone(suite, open_page):
    """Under 150 KB transferred on a first load, and nothing wider than a phone's screen."""
    page = open_page("phone", viewport={"width": 360, "height": 740})
    for path in ("/", "/petitions", "/login", "/register", "/password/forgot"):
        page.goto(f"{suite.url}{path}?lang=uk")
        page.wait_for_load_state("load")
        transferred = page.evaluate(
            "() => performance.getEntriesByType('navigation')"
            ".concat(performance.getEntriesByType('resource'))"
            ".reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)"
        )
        assert 0 < transferred < 150_000, (path, transferred)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow, page.evaluate(WIDER_THAN_THE_SCREEN))


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_passes_axe_and_fits_a_phone(suite, open_page, lang):
    """Each page of the UI, as a council admin sees it, on a 360-pixel-wide screen."""
    council = f"axe-{lang}"
    suite.cli("auth", "create-council", council, "Громада", "--language", "uk")
    email = f"axe-admin-{lang}@example.org"
    token = suite.moderator(council, email=email)
    status, poll = suite.api(
        "POST",
        "/api/polls/polls",
        {"council": council, "question": "Чи потрібен новий парк?", "options": ["Так", "Ні"]},
        token,
    )
    assert status == 201
    suite.api("POST", f"/api/polls/polls/{poll['id']}/publish", None, token)
    petitions = suite.api("GET", f"/api/petitions/petitions?council={council}")[1]["petitions"]
    # One collecting sponsors: its page and the sponsor page show its author the link.
    rules = {"sponsors_needed": 2, "author_verification": "email"}
    suite.api("PUT", f"/api/petitions/councils/{council}/policy", rules, token)
    text = "Просимо облаштувати новий парк біля школи, бо дітям ніде гратися."

    def submitted(title: str, by: str) -> dict:
        petition = suite.api(
            "POST",
            "/api/petitions/petitions",
            {"council": council, "title": title, "text": text},
            by,
        )[1]
        suite.api("POST", f"/api/petitions/petitions/{petition['id']}/submit", None, by)
        return petition

    filed = submitted("Новий парк біля школи", token)
    link = suite.api("GET", f"/api/petitions/petitions/{filed['id']}/sponsorship", None, token)[1]
    sponsor_page = urlsplit(link["link"])
    # One a resident filed, open: its page as a moderator holds the response's and the
    # invalidation's forms, and the council's page lists it.
    suite.api("PUT", f"/api/petitions/councils/{council}/policy", {"sponsors_needed": 0}, token)
    author = suite.resident_token(
        f"axe-author-{lang}@example.org", f"050 400 0{LANGS.index(lang)}01"
    )
    theirs = submitted("Лавки у сквері біля ринку", author)
    suite.api("POST", f"/api/petitions/petitions/{theirs['id']}/approve", None, token)
    pages = [
        "/",
        f"/councils/{council}",
        "/petitions",
        "/petitions/new",
        "/petitions/mine",
        "/polls",
        f"/polls/{poll['id']}",
        "/account",
        f"/councils/{council}/moderation",
        f"/councils/{council}/polls",
        f"/councils/{council}/settings",
        f"/councils/{council}/roles",
        *(f"/petitions/{p['id']}" for p in petitions[:1]),
        f"/petitions/{filed['id']}",
        f"/petitions/{theirs['id']}",
        f"{sponsor_page.path}?{sponsor_page.query}",
        f"/councils/{council}/rejected",
    ]
    page = open_page("admin", viewport={"width": 360, "height": 740})
    sign_in_browser(page, suite, lang, email, MODERATOR_PASSWORD)
    for path in pages:
        page.goto(f"{suite.url}{path}")
        page.wait_for_load_state("load")
        check_accessibility(page)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, (path, overflow, page.evaluate(WIDER_THAN_THE_SCREEN))
        page.screenshot_step(path.split("?")[0].strip("/").replace("/", "-") or "home")
    # The resident's petition, as its council's moderator sees it: what was checked above.
    page.goto(f"{suite.url}/petitions/{theirs['id']}")
    assert page.locator("#invalidations-title").count() == 1
