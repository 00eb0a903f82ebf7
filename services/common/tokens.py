"""Access-token verification against auth's published JWKS.

Only auth holds a signing key. Every other service fetches the public keys (through
`call_service`, so embedded and distributed mode alike), caches them, and checks each
token locally: EdDSA only, issuer, audience, subject, times. Claims land on `g.claims`.
Tokens auth has taken back (a deleted account, a reset password, a role taken away, a
session signed out) are read every few seconds and refused (`Withdrawals`).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from urllib.parse import urlencode

import jwt
import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask, current_app, g, request
from flask_babel import gettext

from .client import ServiceUnavailable, call_service
from .errors import Problem, Unauthorized

ALGORITHMS = ["EdDSA"]
JWKS_PATH = "/.well-known/jwks.json"
WITHDRAWALS_PATH = "/internal/access-withdrawals"
log = logging.getLogger("viche.tokens")
TOKEN_VERIFIER_KEY = "viche.token_verifier"
VERIFIED_KEPT = 10_000  # tokens whose claims each process remembers until they expire


class InvalidToken(Problem):
    slug = "invalid-token"


# Compact JWS, checked here rather than by PyJWT's decode: its generic reader goes over
# the token character by character in Python, and a new token on every request (each
# signature, each vote) paid about 45 µs more for it than for libsodium's check of the
# Ed25519 signature itself. PyJWT still reads the key set and signs (auth).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,16384}")
_REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud", "iss")


def _segment(text: str) -> bytes:
    """One base64url segment of a compact token, decoded: unpadded and spelt the one
    canonical way, so that no second spelling of a token verifies too."""
    if not _SEGMENT.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text:
        raise ValueError("not canonical base64url")
    return data


def _json_object(data: bytes) -> dict:
    try:
        value = json.loads(data)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _is_time(value) -> bool:
    """A NumericDate: a finite number (JSON also reads NaN and 1e400)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@lru_cache(maxsize=64)
def _header(segment: str) -> dict:
    """A token's header, read once per spelling: every token auth signs with one key
    has the same header, and reading it again cost each request a few microseconds.
    Callers only read it (it is shared). A bad header raises ValueError, never kept."""
    return _json_object(_segment(segment))


class CursorRefused(Exception):
    """Auth would not read the cursor it was given (a version that reads them otherwise):
    the list is read whole instead."""


# A user's withdrawals (user id -> (moment, until)) and the sessions signed out (sid ->
# until); `until` is when the last token an entry takes back has expired, by auth's
# clock, and a token is checked by this process's clock against its own expiry first,
# so an entry past its `until` refuses nothing that expiry would not. Lists from an auth
# from before cursors carry no `until`: they are replaced whole at every read.
Lists = tuple[dict[str, tuple[float, float]], dict[str, float]]


class Withdrawals:
    """The access tokens auth took back (services.auth.keys): per user, the moment before
    which their tokens stop working (withdraw_access_tokens), and the sessions signed out,
    whose tokens (claim `sid`) stop working whenever issued (withdraw_session). Read from
    `fetch` every `every_seconds` by whichever request comes first, while the others go
    on with the lists they have: the first time whole (`fetch()`), then only what changed
    since the last answer (`fetch(cursor)`), merged in, and what has expired dropped. If
    auth cannot be reached, the last lists stay (and a token lives no longer than its
    expiry anyway); an answer that makes no sense leaves them too, and the next read is
    whole. A token without `sid` (issued before sessions were named) meets only its
    person's withdrawals."""

    def __init__(
        self, fetch: Callable[..., dict], every_seconds: float = 5.0, whole_every_seconds=600.0
    ) -> None:
        self._fetch = fetch
        self.every_seconds = every_seconds
        # Now and then the whole list again, whatever the cursor says: should a change
        # ever slip past it (a database restored to a point behind it, say), it is held
        # for minutes, not until the process restarts.
        self.whole_every_seconds = whole_every_seconds
        self._whole_at = float("-inf")
        # Replaced together, never changed in place: requests read them meanwhile.
        self._lists: Lists = ({}, {})
        self._cursor: str | None = None  # the last answer's, None until a whole read
        self._expires = math.inf  # the soonest `until` in the lists
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def withdrawn(self, claims: dict) -> bool:
        """Whether the token with these (verified) claims was taken back."""
        due = time.monotonic() - self._read_at >= self.every_seconds
        if due and self._lock.acquire(blocking=False):
            try:
                self._read()
            finally:
                self._lock.release()
        latest, sessions = self._lists
        sid = claims.get("sid")
        if isinstance(sid, str) and sid in sessions:
            return True
        withdrawal = latest.get(claims["sub"])
        return withdrawal is not None and claims["iat"] < withdrawal[0]

    def _read(self) -> None:
        self._read_at = time.monotonic()
        if self._read_at - self._whole_at >= self.whole_every_seconds:
            self._cursor = None
        cursor = self._cursor
        try:
            try:
                answer = self._fetch() if cursor is None else self._fetch(cursor)
            except CursorRefused as exc:
                log.warning("auth refused the cursor, reading the whole list: %s", exc)
                cursor = self._cursor = None
                answer = self._fetch()
            whole = cursor is None or answer.get("full") is not False
            self._take(answer, whole=whole)
            if whole:
                self._whole_at = self._read_at
        except ServiceUnavailable as exc:  # auth unreachable: the cursor still holds
            log.warning("could not read the withdrawn access tokens: %s", exc)
        except Exception as exc:  # nonsense: what it had said is in doubt, so whole next
            self._cursor = None
            log.warning("could not read the withdrawn access tokens: %s", exc)

    def _take(self, answer: dict, *, whole: bool) -> None:
        """Merge `answer` into the lists, or let it replace them: when `whole`, or from an
        auth from before cursors."""
        cursor = answer.get("cursor")
        if cursor is not None and not (isinstance(cursor, str) and 0 < len(cursor) <= 64):
            raise ValueError("the cursor is not a short text")
        latest, sessions = _answered_lists(answer, dated=cursor is not None)
        now = time.time()
        if not whole and cursor is not None:
            # Entries already held come again now and then (see "Cursors" in auth's keys).
            held_latest, held_sessions = self._lists
            latest, sessions = _news(held_latest, latest), _news(held_sessions, sessions)
            if not latest and not sessions and now <= self._expires:
                self._cursor = cursor  # nothing new, nothing expired: the lists stay
                return
            latest, sessions = {**held_latest, **latest}, {**held_sessions, **sessions}
        latest = {user: entry for user, entry in latest.items() if entry[1] >= now}
        sessions = {sid: until for sid, until in sessions.items() if until >= now}
        self._lists = (latest, sessions)
        self._expires = min(
            min((entry[1] for entry in latest.values()), default=math.inf),
            min(sessions.values(), default=math.inf),
        )
        self._cursor = cursor


def _answered_lists(answer: dict, *, dated: bool) -> Lists:
    """The lists of an answer, checked: a `dated` one (with a cursor) says until when
    each entry matters; an answer from an auth from before cursors does not, and lists
    sessions by name only (or none at all, from before sessions)."""

    def moment(value) -> float:
        if not _is_time(value):
            raise ValueError(f"not a time: {value!r}")
        return float(value)

    latest: dict[str, tuple[float, float]] = {}
    for item in answer["withdrawals"]:
        user, at = item["user_id"], moment(item["at"])
        if not isinstance(user, str):
            raise ValueError("a user id is not a text")
        entry = (at, moment(item["until"]) if dated else math.inf)
        latest[user] = max(entry, latest.get(user, entry))
    sessions: dict[str, float] = {}
    if dated:
        for item in answer["signed_out"]:
            if not isinstance(item["sid"], str):
                raise ValueError("a session is not a text")
            sessions[item["sid"]] = max(moment(item["until"]), sessions.get(item["sid"], 0.0))
    else:
        named = answer.get("sessions", [])  # an auth from before sessions lists none
        if not isinstance(named, list) or not all(isinstance(sid, str) for sid in named):
            raise ValueError("sessions is not a list of texts")
        sessions = dict.fromkeys(named, math.inf)
    return latest, sessions


def _news(held: dict, changes: dict) -> dict:
    """The entries of `changes` that `held` lacks, or holds with an earlier moment."""
    return {key: entry for key, entry in changes.items() if key not in held or entry > held[key]}


class TokenVerifier:
    """Verifies access tokens with a cached JWKS from `fetch_jwks`, and refuses those
    `withdrawals` lists."""

    def __init__(
        self,
        fetch_jwks: Callable[[], dict],
        *,
        issuer: str,
        audience: str,
        cache_seconds: float = 300,
        min_refetch_seconds: float = 1.0,
        leeway: float = 30,
        withdrawals: Withdrawals | None = None,
    ) -> None:
        self._fetch_jwks = fetch_jwks
        self.withdrawals = withdrawals
        self.issuer = issuer
        self.audience = audience
        self.cache_seconds = cache_seconds
        # An unknown key id (a rotation) triggers a refetch, but not more often than this,
        # so that a flood of forged tokens cannot become a flood of JWKS requests.
        self.min_refetch_seconds = min_refetch_seconds
        self.fetches = 0
        self.leeway = leeway
        self._keys: dict[str, bytes] = {}  # key id -> raw Ed25519 public key
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        # Tokens verified a moment ago: a page load or a burst of requests presents the
        # same token several times, and checking it again costs more than the request.
        self._verified: OrderedDict[tuple[str, str], dict] = OrderedDict()

    def _refresh(self) -> None:
        jwks = self._fetch_jwks()
        keys = {}
        for jwk in jwt.PyJWKSet.from_dict(jwks).keys:
            if jwk.key_id and isinstance(jwk.key, Ed25519PublicKey):
                keys[jwk.key_id] = jwk.key.public_bytes_raw()
        self._keys = keys
        self._fetched_at = time.monotonic()
        self.fetches += 1

    def _key_for(self, kid: str) -> bytes | None:
        age = time.monotonic() - self._fetched_at
        if kid in self._keys and age < self.cache_seconds:
            return self._keys[kid]
        with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = age >= self.cache_seconds
            unknown = kid not in self._keys and age >= self.min_refetch_seconds
            if stale or unknown:
                self._refresh()
        return self._keys.get(kid)

    def verify(self, token: str, audience: str | None = None) -> dict:
        """Claims of a valid token; `InvalidToken` for anything else.

        `audience` checks a token meant for one service (auth's email proofs) instead of
        the suite's access-token audience.
        """
        cache_key = (token, audience or self.audience)
        claims = self._verified.get(cache_key)
        if claims is None or time.time() > claims["exp"] + self.leeway:
            claims = self._verify(token, audience)
            with self._lock:
                self._verified[cache_key] = claims
                while len(self._verified) > VERIFIED_KEPT:
                    self._verified.popitem(last=False)
        if audience is None and self.withdrawals and self.withdrawals.withdrawn(claims):
            raise InvalidToken(gettext("This access token was taken back. Sign in again."))
        return dict(claims)

    def _verify(self, token: str, audience: str | None) -> dict:
        """Check a compact JWS: EdDSA by a published key, then the claims."""
        parts = token.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not three segments")
            header = _header(parts[0])
            payload = _segment(parts[1])  # read only once the signature holds
            signature = _segment(parts[2])
        except ValueError as exc:
            raise InvalidToken(gettext("The access token is malformed.")) from exc
        # No extension (`crit`, an unencoded payload) is understood, so none is accepted.
        if (
            header.get("alg") not in ALGORITHMS
            or not isinstance(header.get("kid"), str)
            or "crit" in header
            or "b64" in header
        ):
            raise InvalidToken(gettext("The access token is signed in a way we do not accept."))
        key = self._key_for(header["kid"])
        if key is None:
            raise InvalidToken(gettext("The access token was signed by an unknown key."))
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
        try:
            nacl.bindings.crypto_sign_open(signature + signed, key)
            claims = _json_object(payload)
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise InvalidToken(gettext("The access token is not valid.")) from exc
        self._check_claims(claims, audience or self.audience)
        return claims

    def _check_claims(self, claims: dict, audience: str) -> None:
        """Issuer, audience, subject, and times within the leeway; expiry said as such."""
        now = time.time()
        audiences = claims.get("aud")
        if isinstance(audiences, str):
            audiences = [audiences]
        valid = (
            all(name in claims for name in _REQUIRED_CLAIMS)
            and claims["iss"] == self.issuer
            and isinstance(audiences, list)
            and audience in audiences
            and isinstance(claims["sub"], str)
            and all(_is_time(claims.get(name, 0)) for name in ("exp", "iat", "nbf"))
            and claims["iat"] <= now + self.leeway
            and claims.get("nbf", 0) <= now + self.leeway
        )
        if not valid:
            raise InvalidToken(gettext("The access token is not valid."))
        if claims["exp"] <= now - self.leeway:
            raise InvalidToken(gettext("The access token has expired."))


def fetch_jwks_from_auth() -> dict:
    response = call_service("auth", "GET", JWKS_PATH)
    if not response.ok:
        raise ServiceUnavailable(gettext("The signing keys could not be fetched."))
    return response.json()


def fetch_withdrawals_from_auth(since: str | None = None) -> dict:
    """Auth's list of withdrawn access tokens, whole or (given the last answer's cursor)
    what was written since."""
    path = (
        WITHDRAWALS_PATH if since is None else f"{WITHDRAWALS_PATH}?{urlencode({'since': since})}"
    )
    response = call_service("auth", "GET", path, internal=True)
    if since is not None and response.status in (400, 422):
        raise CursorRefused(f"auth answered {response.status}")
    if not response.ok:
        raise ServiceUnavailable(f"auth answered {response.status}")
    return response.json()


def init_tokens(
    app: Flask,
    fetch_jwks: Callable[[], dict] | None = None,
    fetch_withdrawals: Callable[..., dict] | None = None,
) -> None:
    """Give the app a verifier; auth passes its own key store and withdrawals (a fetch
    like fetch_withdrawals_from_auth), the others fetch them from auth."""
    app.extensions[TOKEN_VERIFIER_KEY] = TokenVerifier(
        fetch_jwks or fetch_jwks_from_auth,
        issuer=app.config["JWT_ISSUER"],
        audience=app.config["JWT_AUDIENCE"],
        cache_seconds=app.config["JWKS_CACHE_SECONDS"],
        min_refetch_seconds=app.config["JWKS_MIN_REFETCH_SECONDS"],
        withdrawals=Withdrawals(
            fetch_withdrawals or fetch_withdrawals_from_auth,
            every_seconds=app.config["ACCESS_WITHDRAWALS_SECONDS"],
        ),
    )


def bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_claims(required: bool = True) -> dict | None:
    """The verified claims of this request's access token (None when optional and absent)."""
    if "claims" in g:
        return g.claims
    token = bearer_token()
    if token is None:
        if not required:
            return None
        raise Unauthorized(
            gettext("Log in and send the access token as a Bearer token."),
            headers={"WWW-Authenticate": 'Bearer realm="viche"'},
        )
    try:
        g.claims = current_app.extensions[TOKEN_VERIFIER_KEY].verify(token)
    except InvalidToken as exc:
        exc.headers.setdefault("WWW-Authenticate", 'Bearer realm="viche", error="invalid_token"')
        raise
    return g.claims


def token_required(view):
    """Reject the request unless it carries a valid access token."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        current_claims(required=True)
        return view(*args, **kwargs)

    wrapper.requires_token = True  # type: ignore[attr-defined]
    return wrapper


def _text_or_none(value) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says. Built from claims, never from a database."""

    user_id: str
    email_verified: bool = False
    phone_verified: bool = False
    # council slug -> roles there ("moderator", "admin"); empty for a plain resident.
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    platform_admin: bool = False
    # Keyed hashes of the confirmed mailbox and the verified phone (None while not
    # verified): one person, one vote or signature, across accounts.
    email_hash: str | None = None
    phone_hash: str | None = None
    name: str = ""
    locale: str | None = None

    def __post_init__(self) -> None:
        # A hash stands for a person only once verified: callers use it as it is.
        if not self.email_verified:
            object.__setattr__(self, "email_hash", None)
        if not self.phone_verified:
            object.__setattr__(self, "phone_hash", None)

    @classmethod
    def from_claims(cls, claims: Mapping) -> Principal:
        raw_roles = claims.get("roles") or {}
        roles = (
            {
                str(council): tuple(str(r) for r in council_roles)
                for council, council_roles in raw_roles.items()
                if isinstance(council_roles, list)
            }
            if isinstance(raw_roles, Mapping)
            else {}
        )
        return cls(
            user_id=str(claims["sub"]),
            email_verified=claims.get("email_verified") is True,
            phone_verified=claims.get("phone_verified") is True,
            roles=roles,
            platform_admin=claims.get("platform_admin") is True,
            email_hash=_text_or_none(claims.get("email_hash")),
            phone_hash=_text_or_none(claims.get("phone_hash")),
            name=str(claims.get("name") or ""),
            locale=_text_or_none(claims.get("locale")),
        )

    def has_role(self, council: str, *roles: str) -> bool:
        """True when the caller holds one of `roles` in `council` (any role if none named)."""
        held = self.roles.get(council, ())
        return bool(held) if not roles else any(role in held for role in roles)


def current_principal(required: bool = True) -> Principal | None:
    """The caller of this request, from a verified access token."""
    claims = current_claims(required=required)
    return None if claims is None else Principal.from_claims(claims)


def verify_service_token(token: str, typ: str) -> dict:
    """Claims of a token auth issued to this service (`aud` is this service's name) for
    the purpose `typ`, e.g. "email-proof"; InvalidToken otherwise."""
    claims = current_app.extensions[TOKEN_VERIFIER_KEY].verify(
        token, audience=current_app.config["SERVICE_NAME"]
    )
    if claims.get("typ") != typ:
        raise InvalidToken(gettext("This token is not meant for this."))
    return claims
