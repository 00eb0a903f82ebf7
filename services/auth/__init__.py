"""Auth: accounts, verification, tokens, councils and roles."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from services.common.app import create_service_app

from .accounts.api import accounts_blp, pages_blp
from .accounts.models import PhoneVerification, RefreshToken, User  # noqa: F401 - tables
from .api import keys_blp
from .councils.api import councils_blp
from .internal.api import internal_blp, verify_pages_blp
from .internal.models import EmailVerification  # noqa: F401 - a table
from .keys import access_withdrawals, jwks
from .messaging.dev import dev_blp
from .models import db
from .settings import auth_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Mapping | None = None) -> Flask:
    """The auth service app; it verifies its own tokens from its own key store."""
    return create_service_app(
        "auth",
        db=db,
        blueprints=[
            keys_blp,
            accounts_blp,
            councils_blp,
            internal_blp,
            pages_blp,
            verify_pages_blp,
            dev_blp,
        ],
        config={**auth_settings(), **(config or {})},
        migrations=MIGRATIONS,
        title="Viche auth",
        description="Accounts, verification, access tokens, councils and roles.",
        fetch_jwks=lambda: jwks(db.session),
        fetch_withdrawals=lambda since=None: access_withdrawals(db.session, since),
    )
