"""The polls service's problems, each with a stable slug."""

from __future__ import annotations

from services.common.councils import NotAllowed  # noqa: F401 - raised by this service too
from services.common.errors import N_, Problem


class WrongState(Problem):
    slug, status, title = "wrong-state", 409, N_("Not possible in the poll's state")


class InvalidPoll(Problem):
    slug, status, title = "validation-failed", 422, N_("The request has invalid fields")


class InvalidChoice(Problem):
    slug, status, title = "invalid-choice", 422, N_("The choice is not valid")


class WrongMethod(Problem):
    slug, status, title = "wrong-voting-method", 409, N_("This poll takes votes another way")


class VerificationNeeded(Problem):
    slug, status, title = "verification-needed", 403, N_("More verification is needed")


class AlreadyVoted(Problem):
    slug, status, title = "already-voted", 409, N_("Already voted")


class LinkUsed(Problem):
    slug, status, title = "link-used", 409, N_("This confirmation was used already")


class LinkExpired(Problem):
    slug, status, title = "link-expired", 410, N_("This confirmation has expired")


class ResultsHidden(Problem):
    slug, status, title = "results-hidden", 403, N_("The results are not shown yet")


class DisposableEmail(Problem):
    slug, status, title = "disposable-email", 422, N_("Disposable addresses are not accepted")


class TooManyVotes(Problem):
    slug, status, title = "rate-limited", 429, N_("Too many requests")
