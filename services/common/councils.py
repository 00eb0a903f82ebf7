"""Which councils exist, and what they are, is auth's knowledge; the others ask it and
remember briefly."""

from __future__ import annotations

import re
import time
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext
from werkzeug.routing import BaseConverter

from .client import ServiceUnavailable, call_service
from .errors import N_, NotFound, Problem
from .timeutil import is_time_zone

# As long as auth lets an HTTP cache keep a council (its Cache-Control max-age).
KNOWN_FOR_SECONDS = 60.0
_known: dict[str, tuple[float, dict]] = {}
# A council's address: lowercase letters, digits and inner hyphens (as in a URL).
COUNCIL_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def is_council_slug(text: str) -> bool:
    return COUNCIL_SLUG.fullmatch(text) is not None


class CouncilConverter(BaseConverter):
    """`<council:…>` in a route: only what can be a council's address matches, so no
    `?`, `#`, `/` or newline ever reaches a path built from it."""

    regex = COUNCIL_SLUG.pattern


class UnknownCouncil(Problem):
    slug, status, title = "unknown-council", 422, N_("Unknown council")


class NotAllowed(Problem):
    """The caller holds no role that allows this in the council concerned."""

    slug, status, title = "forbidden", 403, N_("Not allowed")

    def __init__(self, detail: str | None = None, **kwargs) -> None:
        super().__init__(detail or gettext("You may not do this for this council."), **kwargs)


def council_info(slug: str) -> dict | None:
    """The council as auth describes it (name, default language, time zone), remembered
    for KNOWN_FOR_SECONDS; None when there is no such council. When auth cannot be asked,
    what it said last, however old (councils change rarely; a job judging a petition
    must not wait on auth each time), asked again after KNOWN_FOR_SECONDS; UnknownCouncil
    (503) only for a council never heard of."""
    known = _known.get(slug)
    if known is not None and time.monotonic() - known[0] < KNOWN_FOR_SECONDS:
        return known[1]
    if not is_council_slug(slug):  # no council, and no path to build
        return None
    try:
        response = call_service("auth", "GET", f"/councils/{slug}")
    except ServiceUnavailable:
        response = None
    if response is not None and response.status == 404:
        _known.pop(slug, None)
        return None
    if response is None or not response.ok:
        if known is not None:
            _known[slug] = (time.monotonic(), known[1])
            return known[1]
        raise UnknownCouncil(gettext("The list of councils could not be checked."), status=503)
    info = response.json()
    _known[slug] = (time.monotonic(), info)
    return info


def council_zone(council: str | None) -> ZoneInfo:
    """The council's time zone, as auth says (remembered briefly); the installation's
    (VICHE_DEFAULT_TIME_ZONE) when there is no council or auth cannot answer: a page
    shows its times a zone off rather than not at all, and names the zone it used."""
    name = None
    if council:
        try:
            name = (council_info(council) or {}).get("time_zone")
        except Problem:  # auth is down or slow
            name = None
    if not (name and is_time_zone(name)):
        name = current_app.config["DEFAULT_TIME_ZONE"]
    return ZoneInfo(name)


def council_language(council: str) -> str | None:
    """The council's default language, as auth says (remembered briefly); None when it
    cannot be known now."""
    try:
        return (council_info(council) or {}).get("default_language")
    except Problem:  # auth is down or slow
        return None


def council_name(council: str) -> str:
    """The council's name, as auth says (remembered briefly); its slug when it cannot be
    known now (a page still names the council, if less kindly)."""
    try:
        return (council_info(council) or {}).get("name") or council
    except Problem:  # auth is down or slow
        return council


def forget_councils() -> None:
    """After a council changed here (and in tests, whose tables are emptied)."""
    _known.clear()


def ensure_council(slug: str, *, in_path: bool = False) -> None:
    """Refuse a council auth does not know: 422 for a field, 404 for an address
    (`in_path`)."""
    if council_info(slug) is not None:
        return
    if in_path:
        raise NotFound(gettext("There is no council with this address."))
    raise UnknownCouncil(
        gettext("There is no council with this address."),
        errors={"council": [gettext("Unknown council.")]},
    )
