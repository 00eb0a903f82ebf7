"""The problems the accounts' domain raises: one class per answer a client can switch on."""

from __future__ import annotations

from services.common.errors import N_, Problem


class NoSuchAccount(Problem):
    slug, status = "unauthorized", 401


class InvalidLink(Problem):
    slug, status, title = "invalid-link", 400, N_("The link is not valid")


class LinkUsed(InvalidLink):
    """The link did its work already (the address it names is confirmed; the password
    was set since it was sent): its holder is told so, and to sign in. The same problem
    type as any other spent link, with `"used": true`."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, used=True)


class InvalidCredentials(Problem):
    slug, status, title = "invalid-credentials", 401, N_("Sign-in failed")


class InvalidRefreshToken(Problem):
    slug, status, title = "invalid-refresh-token", 401, N_("The session has ended")


class TooSoon(Problem):
    slug, status = "rate-limited", 429


class WeakPassword(Problem):
    slug = "validation-failed"


class VerificationLocked(Problem):
    slug, status, title = "verification-locked", 429, N_("Verification is locked")


class WrongCode(Problem):
    slug, status, title = "wrong-code", 400, N_("The code is wrong")


class CodeExpired(Problem):
    slug, status, title = "code-expired", 400, N_("The code has expired")


class PhoneState(Problem):
    slug, status, title = "phone-state", 409, N_("The phone cannot be verified now")


class PhoneTaken(Problem):
    slug, status, title = "phone-taken", 409, N_("The phone number is taken")
