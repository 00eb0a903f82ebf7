"""Access tokens are verified locally against auth's JWKS, and nothing else passes."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask_smorest import Blueprint

from services.auth.keys import rotate_signing_key
from services.auth.models import db as auth_db
from services.common.app import create_service_app
from services.common.client import register_peers
from services.common.tokens import TOKEN_VERIFIER_KEY, current_principal, token_required
from services.polls import MIGRATIONS
from services.polls.models import db as polls_db
from tests.support.tokens import (
    b64url,
    bearer,
    forged_tokens,
    make_token,
    signed_by_auth,
    signed_raw,
)


@pytest.fixture
def guarded_app(gateway):
    """A polls-like app with one endpoint that needs a token; it fetches keys from auth."""
    blp = Blueprint("guarded", __name__)

    @blp.route("/me")
    @token_required
    def me():
        principal = current_principal()
        return {"user": principal.user_id, "moderates": principal.has_role("kyiv", "moderator")}

    app = create_service_app(
        "polls",
        db=polls_db,
        blueprints=[blp],
        config={"JWKS_MIN_REFETCH_SECONDS": 0},
        migrations=MIGRATIONS,
        title="guarded",
        description="guarded",
    )
    register_peers({"auth": gateway.apps["auth"], "polls": app}, {"auth": "/api/auth"})
    return app


@pytest.fixture
def guarded(guarded_app):
    return guarded_app.test_client()


def test_a_token_from_auth_is_accepted(guarded, auth_app):
    token = make_token(auth_app, "42", roles={"kyiv": ["moderator"]})
    response = guarded.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json == {"user": "42", "moderates": True}


def test_no_token_is_401_with_challenge(guarded):
    response = guarded.get("/me")
    assert response.status_code == 401
    assert response.json["type"] == "urn:viche:problem:unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "variant",
    [
        "alg none",
        "HS256 with the public key",
        "tampered claims",
        "another key, same kid",
        "unknown kid",
        "expired",
        "wrong audience",
        "garbage",
        "header not JSON",
        "header a JSON list",
        "header not base64url",
        "header nested past the parser",
        "header kid not a string",
        "header not UTF-8",
        "no dots",
    ],
)
def test_forged_tokens_are_refused(guarded, auth_app, variant):
    token = forged_tokens(auth_app)[variant]
    response = guarded.get("/me", headers=bearer(token))
    assert response.status_code == 401, variant
    assert response.json["type"] == "urn:viche:problem:invalid-token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_with_the_wrong_audience_from_the_real_key_is_refused(guarded, auth_app):
    with auth_app.app_context():
        from services.auth.keys import issue_access_token

        token = issue_access_token(
            auth_db.session,
            secret=auth_app.config["SECRET_KEY"],
            issuer=auth_app.config["JWT_ISSUER"],
            audience="another-audience",
            subject="42",
        )
    assert guarded.get("/me", headers=bearer(token)).status_code == 401


def test_tokens_stay_valid_across_a_key_rotation(guarded, auth_app):
    before = make_token(auth_app, "7")
    assert guarded.get("/me", headers=bearer(before)).status_code == 200
    with auth_app.app_context():
        rotate_signing_key(auth_db.session, auth_app.config["SECRET_KEY"])
    after = make_token(auth_app, "8")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    # The old key is still published for the overlap, and the new kid is fetched on sight.
    assert guarded.get("/me", headers=bearer(before)).status_code == 200
    assert guarded.get("/me", headers=bearer(after)).status_code == 200


def test_a_flood_of_unknown_key_ids_fetches_the_keys_once(guarded_app, auth_app):
    verifier = guarded_app.extensions[TOKEN_VERIFIER_KEY]
    verifier.min_refetch_seconds = 60
    client = guarded_app.test_client()
    assert client.get("/me", headers=bearer(make_token(auth_app, "1"))).status_code == 200
    fetched = verifier.fetches
    stranger = Ed25519PrivateKey.generate()
    for n in range(20):
        forged = jwt.encode({"sub": "1"}, stranger, algorithm="EdDSA", headers={"kid": f"k{n}"})
        assert client.get("/me", headers=bearer(forged)).status_code == 401
    assert verifier.fetches == fetched


def test_a_verified_token_is_remembered_until_it_expires(guarded_app, auth_app, monkeypatch):
    import time as clock

    from services.common import tokens

    verifier = guarded_app.extensions[TOKEN_VERIFIER_KEY]
    client = guarded_app.test_client()
    token = make_token(auth_app, "7")
    checked = []
    real = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda *a: checked.append(1) or real(*a))
    for _ in range(3):
        assert client.get("/me", headers=bearer(token)).json["user"] == "7"
    assert len(checked) == 1
    # Past its expiry (and the leeway) the remembered claims no longer count: the token
    # is checked afresh (and PyJWT, on the real clock, refuses it once it has expired).
    later = clock.time() + 16 * 60 + verifier.leeway
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    client.get("/me", headers=bearer(token))
    assert len(checked) == 2


def _claims(auth_app, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": auth_app.config["JWT_ISSUER"],
        "aud": auth_app.config["JWT_AUDIENCE"],
        "sub": "42",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def test_a_token_signed_by_auth_with_the_usual_claims_passes(guarded, auth_app):
    """The baseline for the refusals below: the same making, nothing wrong."""
    token = signed_by_auth(auth_app, _claims(auth_app))
    assert guarded.get("/me", headers=bearer(token)).json["user"] == "42"
    listed = signed_by_auth(auth_app, _claims(auth_app, aud=["elsewhere", "viche"]))
    assert guarded.get("/me", headers=bearer(listed)).status_code == 200


@pytest.mark.parametrize(
    ("variant", "changes"),
    [
        ("another issuer", {"iss": "https://evil.example"}),
        ("another audience", {"aud": "elsewhere"}),
        ("audience list without ours", {"aud": ["elsewhere", "else"]}),
        ("audience a number", {"aud": 7}),
        ("no audience", {"aud": None}),
        ("no issuer", {"iss": None}),
        ("no subject", {"sub": None}),
        ("subject a number", {"sub": 42}),
        ("no expiry", {"exp": None}),
        ("expiry a string", {"exp": "2999999999"}),
        ("expiry true", {"exp": True}),
        ("no issue time", {"iat": None}),
        ("issued in the future", {"iat": int(time.time()) + 3600}),
        ("not valid before an hour", {"nbf": int(time.time()) + 3600}),
        ("not-before a string", {"nbf": "soon"}),
        ("expired past the leeway", {"exp": int(time.time()) - 120}),
        ("expiry NaN", {"exp": float("nan")}),
        ("expiry infinite", {"exp": float("inf")}),
    ],
)
def test_tokens_signed_by_auth_with_bad_claims_are_refused(guarded, auth_app, variant, changes):
    """auth's own signature does not make wrong claims right."""
    token = signed_by_auth(auth_app, _claims(auth_app, **changes))
    response = guarded.get("/me", headers=bearer(token))
    assert response.status_code == 401, variant
    assert response.json["type"] == "urn:viche:problem:invalid-token"


def test_an_expired_token_is_said_to_have_expired(guarded, auth_app):
    token = signed_by_auth(auth_app, _claims(auth_app, exp=int(time.time()) - 120))
    assert "expired" in guarded.get("/me", headers=bearer(token)).json["detail"]


@pytest.mark.parametrize(
    "variant",
    [
        "signature padded",
        "signature spelt another way",
        "signature cut short",
        "four segments",
        "payload not JSON",
        "payload a JSON list",
        "critical extension",
        "unencoded payload",
        "Ed448 kid",
        "payload not ASCII",
    ],
)
def test_respellings_and_extensions_of_a_real_token_are_refused(guarded, auth_app, variant):
    """No second spelling of a real signature verifies (a remembered token is keyed by
    its spelling), and no JWS extension is taken on trust."""
    good = signed_by_auth(auth_app, _claims(auth_app))
    head, body, signature = good.split(".")
    # The last character of a 64-byte signature carries 4 unused bits: set one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelt = signature[:-1] + alphabet[alphabet.index(signature[-1]) | 1]
    variants = {
        "signature padded": f"{head}.{body}.{signature}==",
        "signature spelt another way": f"{head}.{body}.{respelt}",
        "signature cut short": f"{head}.{body}.{signature[:40]}",
        "four segments": f"{good}.{signature}",
        "payload not JSON": signed_raw(auth_app, b"not json"),
        "payload a JSON list": signed_raw(auth_app, b"[1, 2]"),
        "critical extension": signed_by_auth(auth_app, _claims(auth_app), crit=["exp"]),
        "unencoded payload": signed_by_auth(auth_app, _claims(auth_app), b64=True),
        "Ed448 kid": good.replace(head, b64url(b'{"alg": "Ed448", "kid": "x"}'), 1),
        # A header is read as Latin-1: a byte past ASCII reaches the verifier as text.
        "payload not ASCII": f"{head}.{body[:-1]}é.{signature}",
    }
    assert respelt != signature
    response = guarded.get("/me", headers=bearer(variants[variant]))
    assert response.status_code == 401, variant
    assert response.json["type"] == "urn:viche:problem:invalid-token"
