"""Signing keys and access tokens: the only place that signs anything users carry.

Keys are Ed25519 (JWT `alg: EdDSA`). The private key is stored encrypted with the
deployment's secret key; `jwks` publishes the public halves of every key that may still
have tokens in flight, so a rotation never invalidates a token mid-life.

An access token is checked by each service on its own, so it cannot be taken back one
by one; `withdraw_access_tokens` takes back all of a person's tokens issued until now
(a deleted account, a reset password, a role taken away), `withdraw_session` those of one
session (its `sid` claim: the person signed out there), and the services, which read
`access_withdrawals` every few seconds, refuse them from then on.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.common.timeutil import utcnow

from .models import AccessWithdrawal, SessionWithdrawal, SigningKey

ACCESS_TOKEN_TTL = timedelta(minutes=15)
# A withdrawal is published while a token it takes back may still be presented: its
# lifetime, and the services' leeway for clocks that disagree.
CLOCK_SKEW = timedelta(minutes=2)
WITHDRAWALS_KEPT = ACCESS_TOKEN_TTL + CLOCK_SKEW
# A retired key is published this long after rotation: longer than any access token lives.
ROTATION_OVERLAP = timedelta(hours=1)

# Each process signs with the key it read a moment ago: a rotation reaches every
# process within this, and the retired key stays published far longer (ROTATION_OVERLAP).
SIGNING_KEY_KEPT_SECONDS = 5.0

_private_cache: dict[str, Ed25519PrivateKey] = {}
_cache_lock = threading.Lock()
_signer: tuple[float, str, Ed25519PrivateKey] | None = None  # (read at, kid, private key)


def _public_jwk(kid: str, private: Ed25519PrivateKey) -> dict:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    return jwk


def create_signing_key(session: Session, secret: str) -> SigningKey:
    """Make a new key pair and store it; it becomes the signing key."""
    private = Ed25519PrivateKey.generate()
    kid = secrets.token_urlsafe(12)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret.encode()),
    )
    key = SigningKey(kid=kid, private_pem=pem, public_jwk=json.dumps(_public_jwk(kid, private)))
    session.add(key)
    session.flush()
    return key


def active_signing_key(session: Session, secret: str) -> SigningKey:
    """The newest unretired key, made on first use."""
    key = session.scalars(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    ).first()
    if key is None:
        key = create_signing_key(session, secret)
        session.commit()
    return key


def rotate_signing_key(session: Session, secret: str) -> SigningKey:
    """Retire the current keys (still published for the overlap) and start a new one."""
    now = utcnow()
    for old in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        old.retired_at = now
        old.expires_at = now + ROTATION_OVERLAP
    key = create_signing_key(session, secret)
    session.commit()
    forget_signer()
    return key


def jwks(session: Session) -> dict:
    """The JSON Web Key Set: every key whose tokens may still be in flight."""
    now = utcnow()
    keys = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()
    published = [
        json.loads(key.public_jwk) for key in keys if key.expires_at is None or key.expires_at > now
    ]
    return {"keys": published}


def withdraw_access_tokens(session: Session, user_id: int) -> None:
    """Every access token of the user issued until now stops working at every service
    within seconds (in the caller's transaction); older withdrawals are tidied away."""
    now = utcnow()
    session.execute(delete(AccessWithdrawal).where(AccessWithdrawal.at < now - WITHDRAWALS_KEPT))
    session.add(AccessWithdrawal(user_id=user_id, at=now))


def withdraw_session(session: Session, sid: str, last_issued: datetime) -> None:
    """Every access token of the session `sid` stops working at every service within
    seconds (in the caller's transaction). Listed while the last one issued to it, at
    `last_issued`, may still be presented; the entries that expired are tidied away."""
    now = utcnow()
    until = last_issued + WITHDRAWALS_KEPT
    session.execute(delete(SessionWithdrawal).where(SessionWithdrawal.until < now))
    listed = session.scalar(
        select(SessionWithdrawal.id).where(
            SessionWithdrawal.sid == sid, SessionWithdrawal.until >= until
        )
    )
    # Signing out again with the same refresh token lists nothing more: the list grows
    # with sessions, not with requests.
    if until > now and listed is None:
        session.add(SessionWithdrawal(sid=sid, until=until))


def access_withdrawals(session: Session) -> dict:
    """The withdrawals a token may still meet: {"withdrawals": [{"user_id", "at"}],
    "sessions": [sid]}, `at` in seconds since the epoch, the latest per user."""
    now = utcnow()
    latest = session.execute(
        select(AccessWithdrawal.user_id, func.max(AccessWithdrawal.at))
        .where(AccessWithdrawal.at >= now - WITHDRAWALS_KEPT)
        .group_by(AccessWithdrawal.user_id)
        .order_by(AccessWithdrawal.user_id)
    )
    sessions = session.scalars(
        select(SessionWithdrawal.sid)
        .where(SessionWithdrawal.until >= now)
        .distinct()
        .order_by(SessionWithdrawal.sid)
    )
    return {
        "withdrawals": [{"user_id": str(user), "at": at.timestamp()} for user, at in latest],
        "sessions": list(sessions),
    }


def _private_key(key: SigningKey, secret: str) -> Ed25519PrivateKey:
    with _cache_lock:
        cached = _private_cache.get(key.kid)
        if cached is None:
            cached = serialization.load_pem_private_key(key.private_pem, secret.encode())
            _private_cache[key.kid] = cached  # type: ignore[assignment]
    return cached  # type: ignore[return-value]


def current_signer(session: Session, secret: str) -> tuple[str, Ed25519PrivateKey]:
    """The active key's id and private half, read again every few seconds."""
    global _signer
    known = _signer
    if known is not None and time.monotonic() - known[0] < SIGNING_KEY_KEPT_SECONDS:
        return known[1], known[2]
    key = active_signing_key(session, secret)
    _signer = (time.monotonic(), key.kid, _private_key(key, secret))
    return key.kid, _signer[2]


def forget_signer() -> None:
    """Read the active key again for the next token (after a rotation, or emptied tables)."""
    global _signer
    _signer = None


def issue_access_token(
    session: Session,
    *,
    secret: str,
    issuer: str,
    audience: str,
    subject: str,
    claims: dict | None = None,
    ttl: timedelta = ACCESS_TOKEN_TTL,
) -> str:
    """A signed, short-lived access token for `subject` with the extra `claims`."""
    return signed_token(
        current_signer(session, secret),
        issuer=issuer,
        audience=audience,
        subject=subject,
        claims=claims,
        ttl=ttl,
    )


def signed_token(
    signer: tuple[str, Ed25519PrivateKey],
    *,
    issuer: str,
    audience: str,
    subject: str,
    claims: dict | None = None,
    ttl: timedelta = ACCESS_TOKEN_TTL,
) -> str:
    """A token signed by `signer` (current_signer's): no database, nothing that fails."""
    kid, private = signer
    now = utcnow()
    payload = {
        **(claims or {}),
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        # To the microsecond: a token issued just after a withdrawal, in the same
        # second, is not taken back with the ones before it.
        "iat": round(now.timestamp(), 6),
        "exp": int((now + ttl).timestamp()),
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": kid})
