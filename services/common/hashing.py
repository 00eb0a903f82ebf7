"""Keyed hashes: how the services say "the same person" without saying who.

A hash keyed with the deployment's HASH_KEY cannot be reversed or recomputed by anyone
without the key, so it can travel in tokens and proofs (one signature per phone, one
vote per address) and outlive a deleted account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def keyed_hash(key: str, purpose: str, value: str) -> str:
    """base64url HMAC-SHA256 of `value`, separated by `purpose` (phone, email...)."""
    digest = hmac.new(key.encode(), f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# Providers known to ignore dots in the local part, and their domains' one name.
DOTLESS_MAILBOXES = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(address: str) -> str:
    """The mailbox a (normalised, lowercase) address delivers to, as far as can be told
    from outside: without its +tag (sub-addressing, which nearly every provider offers)
    and, where the provider ignores them, without dots. Two addresses of one mailbox
    are one voter."""
    local, _, domain = address.rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_MAILBOXES:
        domain = DOTLESS_MAILBOXES[domain]
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def mailbox_hash(key: str, address: str) -> str:
    """The keyed hash that stands for a mailbox: one vote, one limit, per mailbox."""
    return keyed_hash(key, "email", mailbox(address))


def secrets_match(offered: str, expected: str) -> bool:
    """Compare a secret someone offered with ours in constant time; any text may be
    offered (compare_digest refuses str beyond ASCII, so both go in as UTF-8)."""
    return hmac.compare_digest(offered.encode(), expected.encode())


def secret_digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret (refresh tokens): enough to store, useless to read."""
    return hashlib.sha256(secret.encode()).hexdigest()
