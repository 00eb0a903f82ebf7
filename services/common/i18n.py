"""Languages: one gettext catalogue for the whole suite, chosen per request.

Flask apps use Flask-Babel; the asynchronous gateway, which has no Flask request, asks
`translations_for(locale)` directly. Both negotiate the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache, lru_cache
from pathlib import Path

import flask_babel
from babel import Locale
from babel import numbers as babel_numbers
from babel.numbers import NumberPattern, parse_pattern
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, render_template, request
from flask_babel import Babel

from .config import SUPPORTED_LOCALES

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGE_COOKIE = "viche_lang"


def negotiate_locale(
    query_lang: str | None, accept_language: str | None, default: str = "en"
) -> str:
    """`?lang=` (or the language cookie) wins, then the best Accept-Language match, then
    the default."""
    if query_lang in SUPPORTED_LOCALES:
        return query_lang  # type: ignore[return-value]
    if accept_language:
        offers = []
        for part in accept_language.split(","):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            offers.append((quality, tag.strip().lower()))
        for _quality, tag in sorted(offers, key=lambda o: -o[0]):
            primary = tag.split("-")[0]
            if _quality > 0 and primary in SUPPORTED_LOCALES:
                return primary
    return default if default in SUPPORTED_LOCALES else "en"


def request_locale() -> str:
    """The locale of the current Flask request (cached on `g`)."""
    if not has_request_context():
        return current_app.config.get("DEFAULT_LOCALE", "en")
    if "locale" not in g:
        g.locale = negotiate_locale(
            request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE),
            request.headers.get("Accept-Language"),
            current_app.config.get("DEFAULT_LOCALE", "en"),
        )
    return g.locale


def remember_language(response):
    """after_request for pages: a language chosen with ?lang= stays chosen (a cookie)."""
    chosen = request.args.get("lang")
    if chosen in SUPPORTED_LOCALES and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", path="/"
        )
    return response


def format_number(value) -> str:
    """A number as the page's language writes it (1 234 in Ukrainian, 1,234 in English).

    Counts, the common case, are written here as Babel writes them (a test holds them
    to it): Babel takes a dozen microseconds a number, and a page of results or of
    petitions has many."""
    value = value or 0
    locale = flask_babel.get_locale()
    if type(value) is not int or value < 0 or locale is None:
        return flask_babel.format_decimal(value)
    separator, grouped_from = _digit_grouping(str(locale))
    return f"{value:,}".replace(",", separator) if value >= grouped_from else str(value)


@cache
def _digit_grouping(locale: str) -> tuple[str, int]:
    """The language's digit group separator, and the least number it groups (1000, or
    10000 where four digits stand together), read off Babel's own output."""
    thousands = babel_numbers.format_decimal(1234, locale=locale)
    if thousands != "1234":
        return thousands[1:-3], 1000
    return babel_numbers.format_decimal(12345, locale=locale)[2:-3], 10000


@cache
def _percent_to_a_tenth(locale: str) -> NumberPattern:
    """The language's percent pattern with one optional decimal, parsed once."""
    return parse_pattern(Locale.parse(locale).percent_formats[None].pattern.replace("0", "0.#", 1))


TENTH = Decimal("0.1")


def format_percent(value) -> str:
    """A share given in percent (0–100), to a tenth, as the page's language writes
    percentages: 33,3% in Ukrainian, %33,3 in Turkish, 33.3% in English."""
    locale = flask_babel.get_locale()
    # Rounded as Babel rounds it (the share's decimal digits, half to even): there are
    # then at most 1001 shares from 0 to 100, each written once per language.
    share = Decimal(str((value or 0) / 100)).scaleb(2).quantize(TENTH, ROUND_HALF_EVEN)
    return _percent_in(str(locale) if locale is not None else None, share)


@lru_cache(maxsize=16384)
def _percent_in(locale: str | None, share: Decimal) -> str:
    if locale is None:  # outside a request: Babel's default, as Flask-Babel does
        return babel_numbers.format_percent(share.scaleb(-2), format="#,##0.#%")
    return babel_numbers.format_percent(
        share.scaleb(-2), format=_percent_to_a_tenth(locale), locale=locale
    )


def page_language(locale: str | None) -> str:
    """The language of the email a page was opened from (`locale`), unless the visitor
    chose one with ?lang=: the link may be opened on another device."""
    for language in (request.args.get("lang"), locale):
        if language in SUPPORTED_LOCALES:
            return language
    return request_locale()


@contextmanager
def in_language(locale: str | None) -> Iterator[str]:
    """Speak the page's language (`page_language`). Yields it, for the page's <html
    lang>."""
    language = page_language(locale)
    with flask_babel.force_locale(language):
        yield language


def render_in_language(locale: str | None, template: str, **context) -> str:
    """A page opened from an email, in the email's language (see `in_language`)."""
    with in_language(locale) as language:
        return render_template(template, locale=language, **context)


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    Babel(app, locale_selector=request_locale)
    # Templates translate with the catalogue of the language in force: Flask-Babel's own
    # callables look its domain and cache up on every call, a fifth of what rendering a
    # page of results costs.
    app.jinja_env.install_gettext_callables(
        gettext=lambda message: _catalogue().ugettext(message),
        ngettext=lambda singular, plural, n: _catalogue().ungettext(singular, plural, n),
        pgettext=lambda context, message: _catalogue().upgettext(context, message),
        npgettext=lambda context, singular, plural, n: _catalogue().unpgettext(
            context, singular, plural, n
        ),
        newstyle=True,
    )
    # Every page says which language it is in (<html lang="{{ locale }}">).
    app.context_processor(lambda: {"locale": request_locale()})
    app.jinja_env.filters.update(format_number=format_number, format_percent=format_percent)


@cache
def translations_for(locale: str) -> NullTranslations:
    """A language's gettext catalogue, loaded once: for templates (`_catalogue`), and
    outside Flask (the asynchronous gateway, workers)."""
    return Translations.load(str(TRANSLATIONS_DIR), [Locale.parse(locale)])


_UNTRANSLATED = NullTranslations()


def _catalogue() -> NullTranslations:
    """The catalogue of the language a request, or `force_locale`, put in force; none
    outside an app context, as with Flask-Babel."""
    locale = flask_babel.get_locale()
    return _UNTRANSLATED if locale is None else translations_for(str(locale))
