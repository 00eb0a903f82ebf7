"""Template filters: numbers and dates in the page's language, page links."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from babel.dates import format_date as babel_date
from babel.numbers import format_decimal

from services.common.i18n import request_locale


def format_number(value) -> str:
    return format_decimal(value or 0, locale=request_locale())


def format_date(value) -> str:
    """An ISO timestamp from the API as a date in the page's language."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return babel_date(moment, format="long", locale=request_locale())


def merge_query(query: dict, **changes) -> str:
    return urlencode({**query, **changes})


FILTERS = {"format_number": format_number, "format_date": format_date, "merge_query": merge_query}
