"""Which councils exist is auth's knowledge; other services ask it and remember briefly."""

from __future__ import annotations

import re
import time

from flask_babel import gettext
from werkzeug.routing import BaseConverter

from .client import call_service
from .errors import N_, NotFound, Problem

KNOWN_FOR_SECONDS = 300.0
_known: dict[str, float] = {}
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


def ensure_council(slug: str, *, in_path: bool = False) -> None:
    """Refuse a council auth does not know: 422 for a field, 404 for an address
    (`in_path`). Known ones are cached for minutes."""
    if time.monotonic() - _known.get(slug, float("-inf")) < KNOWN_FOR_SECONDS:
        return
    known = False
    if is_council_slug(slug):  # anything else is no council, and no path to build
        response = call_service("auth", "GET", f"/councils/{slug}")
        if not response.ok and response.status != 404:
            raise UnknownCouncil(gettext("The list of councils could not be checked."), status=503)
        known = response.ok
    if not known and in_path:
        raise NotFound(gettext("There is no council with this address."))
    if not known:
        raise UnknownCouncil(
            gettext("There is no council with this address."),
            errors={"council": [gettext("Unknown council.")]},
        )
    _known[slug] = time.monotonic()
