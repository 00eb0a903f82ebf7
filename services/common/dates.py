"""Times as people read them: on the council's clocks, in the language in force (the
request's, or the one a page forced: the poll widget speaks its poll's)."""

from __future__ import annotations

from datetime import datetime

import flask_babel
from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime

from .councils import council_zone

# Languages whose long zone names are labels rather than words that read on from the
# hour ("Восточная Европа, стандартное время"): the name stands in brackets after it.
ZONE_NAME_IN_BRACKETS = frozenset({"ru"})


def as_moment(value) -> datetime:
    """A time from the API (RFC 3339, always with its offset) or from a table (an aware
    datetime) as an aware datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def format_date(value, council: str | None = None) -> str:
    """A time as the date on the council's calendar (22:30 UTC on 29 November is already
    30 November in Kyiv)."""
    if not value:
        return ""
    # babel formats a datetime's own date: move it into the zone first.
    local = as_moment(value).astimezone(council_zone(council))
    return babel_date(local, format="long", locale=flask_babel.get_locale())


def format_datetime(value, council: str | None = None) -> str:
    """A time as date and hour on the council's clocks, with the zone's name as people
    say it ("за східноєвропейським літнім часом", "Central European Standard Time"): for
    moments that matter to the hour (a poll opens, a petition's deadline)."""
    if not value:
        return ""
    locale = flask_babel.get_locale()
    zone_name = "(zzzz)" if locale.language in ZONE_NAME_IN_BRACKETS else "zzzz"
    # The locale's own way of joining a long date and a short time ("{1}, {0}", "{1} {0}").
    pattern = locale.datetime_formats["long"].format(
        f"{locale.time_formats['short'].pattern} {zone_name}", locale.date_formats["long"].pattern
    )
    return babel_datetime(as_moment(value), pattern, tzinfo=council_zone(council), locale=locale)
