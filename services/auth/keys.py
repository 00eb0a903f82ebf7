"""Signing keys and access tokens: the only place that signs anything users carry.

Keys are Ed25519 (JWT `alg: EdDSA`). The private key is stored encrypted with the
deployment's secret key; `jwks` publishes the public halves of every key that may still
have tokens in flight, so a rotation never invalidates a token mid-life.

An access token is checked by each service on its own, so it cannot be taken back one
by one; `withdraw_access_tokens` takes back all of a person's tokens issued until now
(a deleted account, a reset password, a role taken away), `withdraw_session` those of one
session (its `sid` claim: the person signed out there), and the services, which read
`access_withdrawals` every few seconds (after the first time, only what changed: see
"Cursors" below), refuse them from then on.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select, text
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


# Cursors. The services read the withdrawals every few seconds, and after their first
# read only what changed since (a cursor from the last answer). A cursor is a position
# in the order in which rows become visible, and that is not the order of their ids:
# - PostgreSQL: a transaction that took id 10 may commit after one that took id 11; a
#   reader that saw 11 and moved past it would never see 10. A window of time re-read
#   behind the cursor would only guess how long a transaction takes to commit. So each
#   row records the transaction that wrote it (`written_in`, filled in by the database),
#   and the cursor is the oldest transaction still running when the read begins (its
#   snapshot's xmin): every one before it has committed or never will. The next read
#   asks for the rows written by that transaction or later: those of a transaction
#   running beside a read come again next time (merged without harm), none is missed
#   however late it commits. One position covers both tables.
# - SQLite: one writer at a time, holding its lock from its first write to its commit,
#   so ids are handed out in commit order, and AUTOINCREMENT never hands one out twice
#   (sqlite_sequence). The cursor is the last id handed out in each table.
# A cursor this database did not give (another kind, or ahead of it: a database restored
# or replaced) is answered with the whole list, saying so (`full`).
CURSOR_PATTERN = r"^(?:x[0-9]{1,19}|r[0-9]{1,19}\.[0-9]{1,19})\Z"
_POSITION = {
    # Its own transaction (should the reader have written) counts as running: a snapshot
    # leaves it out. LEAST passes over the NULL of a reader that has written nothing.
    "postgresql": text(
        "SELECT 'x' || LEAST(pg_snapshot_xmin(pg_current_snapshot()),"
        " pg_current_xact_id_if_assigned())::text"
    ),
    "sqlite": text(
        "SELECT 'r' || coalesce((SELECT seq FROM sqlite_sequence"
        " WHERE name = 'access_withdrawals'), 0) || '.' || coalesce((SELECT seq"
        " FROM sqlite_sequence WHERE name = 'session_withdrawals'), 0)"
    ),
}


def _position(session: Session) -> str:
    """The cursor of a read that starts now. Taken before the rows are read: each
    statement has its own snapshot, and rows committed in between come again next
    time rather than never."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite" and session.connection().connection.dbapi_connection.in_transaction:
        # The reader has written: its ids would count before they commit, and a rollback
        # would hand them out again. From the start, then (an overlap, never a gap).
        return "r0.0"
    return session.scalar(_POSITION[dialect])


def _numbers(cursor: str) -> tuple[int, ...]:
    return tuple(int(number) for number in cursor[1:].split("."))


def _follows(since: str, position: str) -> bool:
    """Whether `since` is a cursor this database gave: of its kind, not ahead of it."""
    return since[0] == position[0] and all(
        given <= now for given, now in zip(_numbers(since), _numbers(position), strict=True)
    )


def _written_since(since: str, model: type, table: int):
    """The rows of `model` (the cursor's `table`-th number on SQLite) that `since` has
    not seen."""
    if since[0] == "x":
        return model.written_in >= _numbers(since)[0]
    return model.id > _numbers(since)[table]


def access_withdrawals(session: Session, since: str | None = None) -> dict:
    """The withdrawals a token may still meet, all of them, or only those written since
    the cursor `since` (CURSOR_PATTERN, from an earlier answer): {"cursor", "full",
    "withdrawals": [{"user_id", "at", "until"}], "signed_out": [{"sid", "until"}]}, times
    in seconds since the epoch, the latest per user and per session; a whole list
    (`full`) also names the sessions in "sessions", as services from before cursors read
    them."""
    if since is not None and not re.match(CURSOR_PATTERN, since):
        raise ValueError(f"not a cursor: {since!r}")
    position = _position(session)  # before the rows: see "Cursors"
    changes = since is not None and _follows(since, position)
    now = utcnow()
    people = (
        select(AccessWithdrawal.user_id, func.max(AccessWithdrawal.at))
        .where(AccessWithdrawal.at >= now - WITHDRAWALS_KEPT)
        .group_by(AccessWithdrawal.user_id)
        .order_by(AccessWithdrawal.user_id)
    )
    sessions = (
        select(SessionWithdrawal.sid, func.max(SessionWithdrawal.until))
        .where(SessionWithdrawal.until >= now)
        .group_by(SessionWithdrawal.sid)
        .order_by(SessionWithdrawal.sid)
    )
    if changes:
        people = people.where(_written_since(since, AccessWithdrawal, 0))
        sessions = sessions.where(_written_since(since, SessionWithdrawal, 1))
    signed_out = [
        {"sid": sid, "until": until.timestamp()} for sid, until in session.execute(sessions)
    ]
    answer = {
        "cursor": position,
        "full": not changes,
        "withdrawals": [
            {
                "user_id": str(user),
                "at": at.timestamp(),
                "until": (at + WITHDRAWALS_KEPT).timestamp(),
            }
            for user, at in session.execute(people)
        ],
        "signed_out": signed_out,
    }
    if not changes:
        answer["sessions"] = [entry["sid"] for entry in signed_out]
    return answer


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
