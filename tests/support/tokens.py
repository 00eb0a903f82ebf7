"""Access tokens for tests, signed by auth's real key store."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.keys import current_signer, issue_access_token
from services.auth.models import db as auth_db


def make_token(auth_app, subject: str = "1", *, ttl: timedelta | None = None, **claims) -> str:
    """A token as auth would issue it; `claims` are the ones a later issue adds."""
    defaults = {"email_verified": True, "phone_verified": True, "roles": {}, "name": "Test"}
    with auth_app.app_context():
        extra = {"ttl": ttl} if ttl is not None else {}
        return issue_access_token(
            auth_db.session,
            secret=auth_app.config["SECRET_KEY"],
            issuer=auth_app.config["JWT_ISSUER"],
            audience=auth_app.config["JWT_AUDIENCE"],
            subject=subject,
            claims={**defaults, **claims},
            **extra,
        )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64url(data: bytes) -> str:
    """A compact token's segment: base64url, unpadded."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64(data: dict) -> str:
    return b64url(json.dumps(data).encode())


def signed_raw(auth_app, payload: bytes, **header) -> str:
    """A compact token signed by auth's real key over any payload and header."""
    with auth_app.app_context():
        kid, private = current_signer(auth_db.session, auth_app.config["SECRET_KEY"])
    head = b64url(json.dumps({"alg": "EdDSA", "kid": kid, **header}).encode())
    signed = f"{head}.{b64url(payload)}"
    return f"{signed}.{b64url(private.sign(signed.encode()))}"


def signed_by_auth(auth_app, claims: dict, **header) -> str:
    """A token signed by auth's real key with whatever claims (auth would not issue)."""
    return signed_raw(auth_app, json.dumps(claims).encode(), **header)


def forged_tokens(auth_app) -> dict[str, str]:
    """What an attacker would send instead of a real token, by name."""
    good = make_token(auth_app, "42")
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    jwks = auth_app.test_client().get("/.well-known/jwks.json").json
    public_x = jwks["keys"][0]["x"]
    stranger = Ed25519PrivateKey.generate()
    return {
        "alg none": _b64({"alg": "none", "kid": kid}) + "." + payload + ".",
        "HS256 with the public key": jwt.encode(
            claims, public_x, algorithm="HS256", headers={"kid": kid}
        ),
        "tampered claims": header + "." + _b64({**claims, "sub": "1"}) + "." + signature,
        "another key, same kid": jwt.encode(
            claims, stranger, algorithm="EdDSA", headers={"kid": kid}
        ),
        "unknown kid": jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "nope"}),
        "expired": make_token(auth_app, "42", ttl=timedelta(minutes=-5)),
        "wrong audience": jwt.encode(
            {**claims, "aud": "elsewhere"}, stranger, algorithm="EdDSA", headers={"kid": kid}
        ),
        "garbage": "not.a.token",
        "header not JSON": "bm90IGpzb24." + payload + "." + signature,
        "header a JSON list": b64url(b'["EdDSA"]') + "." + payload + "." + signature,
        "header not base64url": header.replace(header[3], "!") + "." + payload + "." + signature,
        "header nested past the parser": b64url(b"[" * 100_000) + "." + payload + ".x",
        "header kid not a string": _b64({"alg": "EdDSA", "kid": 7})
        + "."
        + payload
        + "."
        + signature,
        "header not UTF-8": b64url(b'{"alg": "\xff"}') + "." + payload + "." + signature,
        "no dots": header,
    }
