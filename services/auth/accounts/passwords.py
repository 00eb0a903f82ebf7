"""Passwords: argon2id hashes, a minimum length, and no password everyone else uses; the
problems a wrong or a refused one raises."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from services.common.passwords import MAX_LENGTH, MIN_DIFFERENT, MIN_LENGTH

from .errors import InvalidCredentials, WeakPassword
from .models import User

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the account does not exist, so that a wrong address takes as
# long as a wrong password and the timing tells nothing.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most frequent passwords (zxcvbn's list) and local ones it lacks."""
    text = (Path(__file__).parent / "common-passwords.txt").read_text(encoding="utf-8")
    local = {line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"}
    return frozenset(p.lower() for p in (*FREQUENCY_LISTS["passwords"], *local))


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why this password is refused (an untranslated message id), or None."""
    if len(password) < MIN_LENGTH:
        return "too-short"
    if len(password) > MAX_LENGTH:
        return "too-long"
    lowered = password.lower()
    personal = {email.lower(), email.split("@")[0].lower(), name.lower()} - {""}
    if lowered in common_passwords() or lowered in personal or len(set(lowered)) < MIN_DIFFERENT:
        return "too-common"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends one argon2 verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_new_password(password: str, email: str, name: str, field: str = "password") -> None:
    """A WeakPassword, its reason under `field`, for a new password the rules refuse."""
    reason = password_problem(password, email=email, name=name)
    if reason is None:
        return
    message = password_refusal(reason)
    raise WeakPassword(gettext("The password is not accepted."), errors={field: [message]})


def password_refusal(reason: str) -> str:
    """What a person is told of a `password_problem`, in their language."""
    return {
        "too-short": gettext("Use at least 10 characters."),
        "too-long": gettext("Use at most 256 characters."),
        "too-common": gettext("This password is too easy to guess. Choose another."),
    }[reason]


def require_password(user: User, password: str, field: str | None = None) -> None:
    """InvalidCredentials unless `password` is the account's (said under `field`, if named)."""
    if not verify_password(user.password_hash, password):
        wrong = gettext("The password is wrong.")
        raise InvalidCredentials(wrong, errors={field: [wrong]} if field else None)
