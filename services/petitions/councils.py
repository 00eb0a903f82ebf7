"""Which councils exist is auth's knowledge; petitions asks it and remembers briefly."""

from __future__ import annotations

import time

from flask_babel import gettext

from services.common.client import call_service

from .errors import UnknownCouncil

KNOWN_FOR_SECONDS = 300.0
_known: dict[str, float] = {}


def ensure_council(slug: str) -> None:
    """Refuse a council auth does not know (422); known ones are cached for minutes."""
    if time.monotonic() - _known.get(slug, float("-inf")) < KNOWN_FOR_SECONDS:
        return
    response = call_service("auth", "GET", f"/councils/{slug}")
    if response.status == 404:
        raise UnknownCouncil(
            gettext("There is no council with this address."),
            errors={"council": [gettext("Unknown council.")]},
        )
    if not response.ok:
        raise UnknownCouncil(gettext("The list of councils could not be checked."), status=503)
    _known[slug] = time.monotonic()
