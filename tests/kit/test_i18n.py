"""The language of a response follows the request."""

from __future__ import annotations

import pytest
from flask import Flask

from services.common.i18n import format_number, format_percent, init_i18n, negotiate_locale


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
