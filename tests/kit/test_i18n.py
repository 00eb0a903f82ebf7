"""The language of a response follows the request."""

from __future__ import annotations

import flask_babel
import pytest
from flask import Flask, render_template_string

from services.common.config import SUPPORTED_LOCALES
from services.common.i18n import (
    _percent_to_a_tenth,
    format_number,
    format_percent,
    init_i18n,
    negotiate_locale,
)


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "en"),
        ("uk", "en", "uk"),
        (None, "uk-UA,uk;q=0.9,en;q=0.8", "uk"),
        (None, "de-DE, hu;q=0.5", "hu"),
        (None, "fr, de", "en"),
        ("xx", "tr", "tr"),
        (None, "ru;q=0, en;q=0.1", "en"),
        (None, "uk;q=nonsense, en", "en"),
    ],
)
def test_negotiation(query, header, expected):
    assert negotiate_locale(query, header, "en") == expected


def test_problems_speak_ukrainian_when_asked(client):
    response = client.get("/api/polls/nowhere", headers={"Accept-Language": "uk"})
    assert response.status_code == 404
    assert response.json["title"] == "Не знайдено"
    english = client.get("/api/polls/nowhere", headers={"Accept-Language": "en"})
    assert english.json["title"] == "Not found"


@pytest.mark.parametrize(
    "language, number, percent",
    [("en", "12,345", "33.3%"), ("uk", "12\xa0345", "33,3%"), ("tr", "12.345", "%33,3")],
)
def test_numbers_and_percentages_as_the_language_writes_them(language, number, percent):
    app = Flask(__name__)
    init_i18n(app)
    with app.test_request_context(f"/?lang={language}"):
        assert format_number(12345) == number
        assert format_percent(33.3333) == percent


@pytest.mark.parametrize("language", SUPPORTED_LOCALES)
def test_numbers_and_shares_are_written_as_babel_writes_them(language):
    """Counts and shares are written without Babel on the way (it is slow), and must
    say exactly what it says: every language, small and large numbers, the edges of
    digit grouping, shares that round half to even, and what is not a count."""
    app = Flask(__name__)
    init_i18n(app)
    counts = [
        *range(0, 1100),
        *range(9990, 10010),
        *(10**k + d for k in range(3, 13) for d in (-1, 0, 1)),
    ]
    shares = [n / 10 for n in range(0, 1001)] + [
        0.05,
        0.15,
        12.25,
        12.35,
        99.95,
        33.3333,
        200 / 3,
        100,
    ]
    shares += [
        100 * votes / voters for voters in (3, 7, 9, 11, 40, 1234) for votes in range(voters + 1)
    ]
    with app.test_request_context(f"/?lang={language}"):
        for count in counts:
            assert format_number(count) == flask_babel.format_decimal(count), count
        for other in (None, -5, 2.5, 1234.5):
            assert format_number(other) == flask_babel.format_decimal(other or 0), other
        pattern = _percent_to_a_tenth(language)
        for share in shares:
            expected = flask_babel.format_percent(share / 100, format=pattern)
            assert format_percent(share) == expected, share


@pytest.mark.parametrize("language", ["en", "uk", "ru", "tr", "hu"])
def test_templates_translate_as_flask_babel_does(language):
    """Templates' own gettext callables (cheaper than Flask-Babel's) say what
    Flask-Babel says, in the request's language and in one `force_locale` puts in force."""
    app = Flask(__name__)
    init_i18n(app)
    template = (
        '{{ _("Results") }}|{{ gettext("Receipt") }}|{{ _("%(count)s%%", count=5) }}|'
        '{{ ngettext("%(num)s vote", "%(num)s votes", n, num=n) }}|{{ _("<b>") }}'
    )

    def said_by_flask_babel(n: int) -> str:
        return "|".join(
            (
                flask_babel.gettext("Results"),
                flask_babel.gettext("Receipt"),
                "5%",
                flask_babel.ngettext("%(num)s vote", "%(num)s votes", n),
                "<b>",  # a translation is markup, as with Flask-Babel's callables
            )
        )

    for n in (1, 3, 21):
        with app.test_request_context(f"/?lang={language}"):
            page = render_template_string(template, n=n)
            assert page == said_by_flask_babel(n)
        with app.test_request_context("/?lang=en"), flask_babel.force_locale(language):
            assert render_template_string(template, n=n) == page == said_by_flask_babel(n)
    if language != "en":
        assert not page.startswith("Results|Receipt")  # translated, not the source
