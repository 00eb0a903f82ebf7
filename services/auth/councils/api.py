"""Councils and roles over HTTP."""

from __future__ import annotations

from flask_babel import gettext
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.common.blueprint import Blueprint
from services.common.caching import cached_public_read
from services.common.config import SUPPORTED_LOCALES
from services.common.errors import Forbidden
from services.common.fields import CheckOnlyQuery
from services.common.tokens import current_principal, token_required

from ..accounts.domain import account_id
from ..models import db
from . import domain
from .models import ROLES, Council

councils_blp = Blueprint("councils", __name__, description="Councils and roles in them")


class CouncilSchema(Schema):
    slug = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    default_language = fields.String(required=True, validate=validate.OneOf(SUPPORTED_LOCALES))
    time_zone = fields.String(
        metadata={
            "description": "IANA time zone the council's times are shown in (Europe/Kyiv);"
            " when creating, VICHE_DEFAULT_TIME_ZONE if left out"
        }
    )


class CouncilChangesSchema(Schema):
    """Changes to a council: only the attributes given change."""

    name = fields.String()
    default_language = fields.String()
    time_zone = fields.String()


class CouncilListSchema(Schema):
    councils = fields.List(fields.Nested(CouncilSchema), required=True)


class RoleSchema(Schema):
    user_id = fields.Integer(required=True)
    name = fields.String(allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    granted_at = fields.DateTime(required=True)


class RoleListSchema(Schema):
    roles = fields.List(fields.Nested(RoleSchema), required=True)


def public_council(council: Council) -> dict:
    return {
        "slug": council.slug,
        "name": council.name,
        "default_language": council.default_language,
        "time_zone": council.time_zone,
    }


@councils_blp.route("/councils")
@cached_public_read(max_age=60, stale_while_revalidate=300)
@councils_blp.response(200, CouncilListSchema)
def list_councils():
    """Every council on this installation."""
    councils = db.session.scalars(select(Council).order_by(Council.name)).all()
    return {"councils": [public_council(c) for c in councils]}


@councils_blp.route("/councils/<council:slug>")
@cached_public_read(max_age=60, stale_while_revalidate=300)
@councils_blp.response(200, CouncilSchema)
def get_council(slug: str):
    """One council."""
    return public_council(domain.council_by_slug(db.session, slug))


@councils_blp.route("/councils", methods=["POST"])
@councils_blp.arguments(CouncilSchema)
@councils_blp.response(201, CouncilSchema)
@token_required
def create_council(data):
    """Add a council (platform admins)."""
    if not domain.is_platform_admin(db.session, account_id(current_principal().user_id)):
        raise Forbidden(gettext("Only platform admins may add councils."))
    return public_council(domain.create_council(db.session, **data))


@councils_blp.route("/councils/<council:slug>", methods=["PATCH"])
@councils_blp.arguments(CouncilChangesSchema)
@councils_blp.arguments(CheckOnlyQuery, location="query")
@councils_blp.response(200, CouncilSchema)
@token_required
def update_council(changes, query, slug: str):
    """Change the council's name, default language or time zone (its admins, or
    platform admins)."""
    actor = account_id(current_principal().user_id)
    council = domain.update_council(
        db.session, actor_id=actor, slug=slug, changes=changes, check_only=query["check_only"]
    )
    return public_council(council)


@councils_blp.route("/councils/<council:slug>/roles")
@councils_blp.response(200, RoleListSchema)
@token_required
def list_roles(slug: str):
    """Who moderates and administers this council (its admins)."""
    actor = account_id(current_principal().user_id)
    return {"roles": domain.council_roles(db.session, actor_id=actor, slug=slug)}


@councils_blp.route("/councils/<council:slug>/roles/<int:user_id>/<role>", methods=["PUT"])
@councils_blp.response(204)
@token_required
def grant_role(slug: str, user_id: int, role: str):
    """Grant a role in this council (its admins, or platform admins)."""
    domain.grant_role(
        db.session,
        actor_id=account_id(current_principal().user_id),
        slug=slug,
        user_id=user_id,
        role=role,
    )


@councils_blp.route("/councils/<council:slug>/roles/<int:user_id>/<role>", methods=["DELETE"])
@councils_blp.response(204)
@token_required
def revoke_role(slug: str, user_id: int, role: str):
    """Revoke a role in this council (its admins, or platform admins)."""
    domain.revoke_role(
        db.session,
        actor_id=account_id(current_principal().user_id),
        slug=slug,
        user_id=user_id,
        role=role,
    )
