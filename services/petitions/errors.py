"""The petitions service's problems, each with a stable slug."""

from __future__ import annotations

from services.common.councils import NotAllowed  # noqa: F401 - raised by this service too
from services.common.errors import N_, Problem


class WrongState(Problem):
    slug, status, title = "wrong-state", 409, N_("Not possible in the petition's state")


class VerificationNeeded(Problem):
    slug, status, title = "verification-needed", 403, N_("More verification is needed")


class AlreadySigned(Problem):
    slug, status, title = "already-signed", 409, N_("Already signed")


class OwnPetition(Problem):
    slug, status, title = "own-petition", 403, N_("Another moderator must decide")
