"""Auth's HTTP surface."""

from __future__ import annotations

from services.common.blueprint import Blueprint

from .keys import jwks
from .models import db

keys_blp = Blueprint("keys", __name__, description="Public keys for verifying access tokens")


@keys_blp.route("/.well-known/jwks.json")
@keys_blp.doc(
    responses={
        "200": {
            "description": "RFC 7517 JSON Web Key Set",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["keys"],
                        "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
                    }
                }
            },
        }
    }
)
def published_keys():
    """The JSON Web Key Set that other services verify access tokens with."""
    response = jwks(db.session)
    return response, 200, {"Cache-Control": "public, max-age=300"}
