"""The rules a new password meets, as every form that asks for one says them before the
first attempt. auth enforces them (services/auth/accounts/passwords.py); the web pages
(auth's own and the gateway's) show them from here, so the two never disagree."""

from __future__ import annotations

from flask_babel import gettext

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a bound keeps a request from costing seconds
MIN_DIFFERENT = 4  # different characters: "aaaaaaaaaa" and "ababababab" are refused


def password_rules() -> str:
    """The rules in the reader's language, for the hint beside a new password's field."""
    return gettext(
        "At least %(min)s characters, of which at least %(different)s different; not a"
        " commonly used password, and not your email address or name.",
        min=MIN_LENGTH,
        different=MIN_DIFFERENT,
    )
