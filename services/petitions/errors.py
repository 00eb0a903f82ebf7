"""The petitions service's problems, each with a stable slug."""

from __future__ import annotations

from flask_babel import gettext

from services.common.errors import N_, Problem


class NotAllowed(Problem):
    slug, status, title = "forbidden", 403, N_("Not allowed")

    def __init__(self, detail: str | None = None, **kwargs) -> None:
        super().__init__(detail or gettext("You may not do this for this council."), **kwargs)


class WrongState(Problem):
    slug, status, title = "wrong-state", 409, N_("Not possible in the petition's state")


class VerificationNeeded(Problem):
    slug, status, title = "verification-needed", 403, N_("More verification is needed")


class AlreadySigned(Problem):
    slug, status, title = "already-signed", 409, N_("Already signed")


class UnknownCouncil(Problem):
    slug, status, title = "unknown-council", 422, N_("Unknown council")
