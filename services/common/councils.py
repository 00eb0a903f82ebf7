"""Which councils exist is auth's knowledge; other services ask it and remember briefly."""

from __future__ import annotations

import time

from flask_babel import gettext

from .client import call_service
from .errors import N_, NotFound, Problem

KNOWN_FOR_SECONDS = 300.0
_known: dict[str, float] = {}


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
    response = call_service("auth", "GET", f"/councils/{slug}")
    if response.status == 404 and in_path:
        raise NotFound(gettext("There is no council with this address."))
    if response.status == 404:
        raise UnknownCouncil(
            gettext("There is no council with this address."),
            errors={"council": [gettext("Unknown council.")]},
        )
    if not response.ok:
        raise UnknownCouncil(gettext("The list of councils could not be checked."), status=503)
    _known[slug] = time.monotonic()
