"""The seed's poll widget, pasted into a council's own page on another port, in Chromium."""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import ENABLED
from tests.support.smtp import free_port

pytestmark = pytest.mark.skipif(not ENABLED, reason="browser tests run with VICHE_BROWSER_TESTS=1")

COUNCIL_PAGE = """<!doctype html>
<html lang="uk"><head><meta charset="utf-8"><title>Громада</title>
<link rel="icon" href="data:,"></head>
<body><main><h1>Новини громади</h1>
{snippet}
</main></body></html>
"""


class CouncilSite:
    """A council's own website: a plain HTML page served from another port."""

    def __init__(self, snippet: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="council-site-"))
        (self.root / "index.html").write_text(COUNCIL_PAGE.format(snippet=snippet))
        self.port = free_port()
        handler = functools.partial(QuietHandler, directory=str(self.root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/index.html"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


WIDGET_TEXTS = {
    "uk": {
        "warning": "Щоб уникнути фальсифікацій",
        "email": "Ваша адреса електронної пошти",
        "almost": "Майже готово",
        "thanks": "Дякуємо! Ваш голос враховано.",
        "one_vote": "1 голос",
    },
    "en": {
        "warning": "To avoid falsification",
        "email": "Your email address",
        "almost": "Almost done",
        "thanks": "Thank you! Your vote was counted.",
        "one_vote": "1 vote",
    },
}


@pytest.fixture(scope="module")
def moderator_token(suite):
    return suite.moderator("hromada")


@pytest.fixture
def poll(suite, moderator_token, request):
    language = getattr(request, "param", "uk")
    return {"token": moderator_token, **_new_poll(suite, moderator_token, language)}


def _new_poll(suite, token: str, language: str = "uk") -> dict:
    status, created = suite.api(
        "POST",
        "/api/polls/polls",
        {
            "council": "hromada",
            "question": "Звідки ви дізнаєтеся про події в громаді?",
            "options": ["Сайт громади", "Facebook", "Telegram"],
            "language": language,
        },
        token,
    )
    assert status == 201, created
    status, published = suite.api("POST", f"/api/polls/polls/{created['id']}/publish", None, token)
    assert status == 200, published
    return published


@pytest.fixture(scope="module", autouse=True)
def council(suite):
    suite.cli("auth", "create-council", "hromada", "Громада", "--language", "uk")


@pytest.mark.parametrize("poll", ["uk", "en"], indirect=True)
def test_the_snippet_on_a_council_page_votes_by_email(suite, poll, page):
    texts = WIDGET_TEXTS[poll["language"]]
    voter = f"resident-{poll['language']}@example.org"
    site = CouncilSite("")
    try:
        allowed = suite.api(
            "PUT",
            "/api/polls/councils/hromada/policy",
            {"widget_origins": [f"http://127.0.0.1:{site.port}"]},
            poll["token"],
        )
        assert allowed[0] == 200
        status, embed = suite.api(
            "GET", f"/api/polls/polls/{poll['id']}/embed", None, poll["token"]
        )
        assert status == 200
        (site.root / "index.html").write_text(COUNCIL_PAGE.format(snippet=embed["script"]))

        page.goto(site.url)
        widget = page.frame_locator("iframe")
        widget.get_by_text(texts["warning"]).wait_for()
        page.screenshot_step("widget-on-council-page")
        widget.get_by_label("Telegram").check()
        widget.get_by_label(texts["email"]).fill(voter)
        widget.get_by_label(texts["email"]).press("Enter")  # by keyboard
        widget.get_by_text(texts["almost"]).wait_for()
        page.screenshot_step("check-your-email")

        link = next(url for url in suite.outbox_links(voter) if "/verify?" in url)
        page.goto(link)
        page.get_by_text("Telegram").wait_for()
        page.screenshot_step("confirm-page")
        page.get_by_role("button").click()
        page.get_by_text(texts["thanks"]).wait_for()
        page.screenshot_step("thank-you")

        # Back on the council's page, the widget shows the vote once the aggregator
        # has folded it in (twice a second): a visitor coming back reloads. First the
        # API says it is counted, so that what is waited on below is the widget itself
        # (the browser may keep its page for the 5 seconds it is told to).
        results = f"/api/polls/polls/{poll['id']}/results"
        for _ in range(100):
            if suite.api("GET", results)[1]["voters"] == 1:
                break
            time.sleep(0.2)
        assert suite.api("GET", results)[1]["voters"] == 1, "the vote was never counted"
        for attempt in range(20):
            page.goto(site.url)
            # The widget loads at its own pace (a busy machine takes seconds): only
            # once its results are on the page is a missing count a missing count.
            widget = page.frame_locator("iframe")
            widget.locator("#results-title").wait_for()
            counted = widget.get_by_text(texts["one_vote"]).first
            try:
                counted.wait_for(timeout=1000)
                break
            except PlaywrightTimeout:
                assert attempt < 19, "the vote never showed in the widget's results"
        page.screenshot_step("results-in-widget")
    finally:
        site.stop()


def _fits_its_page(page, frame: str) -> float:
    """Wait until the frame is as tall as the page inside it; its height."""
    widget = page.frame_locator(frame)
    widget.get_by_role("button").wait_for()
    measure = "b => [Math.ceil(b.getBoundingClientRect().height), window.innerHeight]"
    for _ in range(50):
        inner, visible = widget.locator("body").evaluate(measure)
        if abs(inner - visible) <= 2:
            return page.locator(frame).bounding_box()["height"]
        page.wait_for_timeout(100)
    raise AssertionError(f"the frame is {visible}px tall, its page {inner}px")


def test_the_loader_fits_the_frame_to_the_poll(suite, moderator_token, page):
    """A long poll with its results beneath: the frame grows to the page (the Vote
    button is not hidden below a scrollbar), on a council's site and on our own poll
    page, and nothing but the poll's page moves it."""
    status, created = suite.api(
        "POST",
        "/api/polls/polls",
        {
            "council": "hromada",
            "question": "Які вулиці ремонтувати першими?",
            "options": [f"Вулиця номер {n}" for n in range(1, 11)],
            "results_visibility": "always",
        },
        moderator_token,
    )
    assert status == 201, created
    poll_id = created["id"]
    assert suite.api("POST", f"/api/polls/polls/{poll_id}/publish", None, moderator_token)[0] == 200
    site = CouncilSite("")
    try:
        assert (
            suite.api(
                "PUT",
                "/api/polls/councils/hromada/policy",
                {"widget_origins": [f"http://127.0.0.1:{site.port}"]},
                moderator_token,
            )[0]
            == 200
        )
        embed = suite.api("GET", f"/api/polls/polls/{poll_id}/embed", None, moderator_token)[1]
        (site.root / "index.html").write_text(COUNCIL_PAGE.format(snippet=embed["script"]))
        complaints = []  # the council's console must stay clean of our loader's
        page.on("console", lambda m: m.type in ("error", "warning") and complaints.append(m.text))
        page.goto(site.url)
        height = _fits_its_page(page, "iframe")
        assert complaints == []
        assert height > 800  # ten answers and their results
        page.screenshot_step("widget-fits-a-long-poll")
        # The council's page (or any other frame on it) cannot resize the widget.
        page.evaluate("window.postMessage({viche: 'height', height: 10}, '*')")
        page.wait_for_timeout(300)
        assert page.locator("iframe").bounding_box()["height"] == height
    finally:
        site.stop()
    page.goto(f"{suite.url}/polls/{poll_id}")
    assert _fits_its_page(page, "iframe.poll") > 800
    page.screenshot_step("poll-page-fits-a-long-poll")


def test_a_site_the_council_did_not_list_cannot_frame_the_widget(suite, poll, browser):
    site = CouncilSite(
        f'<iframe src="{suite.url}/api/polls/widget/{poll["id"]}" title="poll"></iframe>'
    )
    context = browser.new_context()
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text))
        page.goto(site.url)
        page.wait_for_timeout(500)
        frame = page.frames[1]
        assert "Щоб уникнути фальсифікацій" not in frame.content()
        assert any("frame-ancestors" in text for text in refused), refused
    finally:
        context.close()
        site.stop()


def test_a_long_word_in_an_answer_wraps_inside_a_phone_wide_widget(
    suite, moderator_token, open_page
):
    """An address or a run of characters without spaces in an answer or the question
    wraps: nothing is cut off or pushed sideways in a 360-pixel frame, results included."""
    word = "вулиця" * 25
    status, created = suite.api(
        "POST",
        "/api/polls/polls",
        {
            "council": "hromada",
            "question": f"Що ремонтувати: {word}?",
            "options": [word, "Інше"],
            "results_visibility": "always",
        },
        moderator_token,
    )
    assert status == 201, created
    assert (
        suite.api("POST", f"/api/polls/polls/{created['id']}/publish", None, moderator_token)[0]
        == 200
    )
    page = open_page(viewport={"width": 360, "height": 740})
    page.goto(f"{suite.url}/api/polls/widget/{created['id']}")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    page.screenshot_step("long-word-wraps")
