"""Councils and roles over HTTP."""

from __future__ import annotations

from flask_babel import gettext
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from services.common.blueprint import Blueprint
from services.common.caching import cached_public_read
from services.common.config import SUPPORTED_LOCALES
from services.common.errors import Forbidden
from services.common.fields import CheckOnlyQuery, EmailAddress, Length, OneLine
from services.common.tokens import current_principal, token_required

from ..accounts.api import accepted, current_user, settings
from ..accounts.schemas import AcceptedSchema
from ..accounts.users import account_id
from ..models import db
from . import domain, invitations
from .models import ROLES, Council

councils_blp = Blueprint("councils", __name__, description="Councils and roles in them")


def council_name(**kwargs) -> OneLine:
    """A council's name, checked alike whether it is given on creation or on a change:
    one line of 1 to 200 characters."""
    return OneLine(validate=Length(min=1, max=200), **kwargs)


class CouncilSchema(Schema):
    slug = fields.String(required=True, validate=Length(min=1, max=64))
    name = council_name(required=True)
    default_language = fields.String(required=True, validate=validate.OneOf(SUPPORTED_LOCALES))
    time_zone = fields.String(
        metadata={
            "description": "IANA time zone the council's times are shown in (Europe/Kyiv);"
            " when creating, VICHE_DEFAULT_TIME_ZONE if left out"
        }
    )


class CouncilChangesSchema(Schema):
    """Changes to a council: only the attributes given change."""

    name = council_name()
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


class InvitationRequestSchema(Schema):
    email = EmailAddress(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class InvitationSchema(Schema):
    """A pending invitation, as the council's admins see it."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    invited_by = fields.Integer(required=True, metadata={"description": "the admin's account"})
    invited_by_name = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)


class InvitationListSchema(Schema):
    invitations = fields.List(fields.Nested(InvitationSchema), required=True)


class OfferedRoleSchema(Schema):
    """What an invitation offers the signed-in person."""

    council = fields.String(required=True, metadata={"description": "the council's slug"})
    council_name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    expires_at = fields.DateTime(required=True)
    held = fields.Boolean(
        required=True,
        metadata={"description": "the person holds the role already: accepting adds nothing"},
    )


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
    """Grant a role in this council to an account (platform admins). A council's admins
    invite by email (`POST /councils/{slug}/invitations`): granting to an account number
    would tell them whose account it is. A pending invitation of the account's confirmed
    address to the role is withdrawn; a role held already is left as it was granted."""
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


@councils_blp.route("/councils/<council:slug>/invitations", methods=["POST"])
@councils_blp.arguments(InvitationRequestSchema)
@councils_blp.response(202, AcceptedSchema)
@token_required
def invite(data, slug: str):
    """Invite an email address to a role (its admins, or platform admins; 20 an hour
    each). Auth mails a link, valid 7 days, in the council's language; the answer is the
    same whether or not the address has an account. The role is granted when the account
    whose confirmed address it is accepts (`POST /invitations/{token}/accept`)."""
    invitations.invite(
        db.session,
        settings(),
        actor_id=account_id(current_principal().user_id),
        slug=slug,
        email=data["email"],
        role=data["role"],
    )
    return accepted(gettext("The invitation is on its way."))


@councils_blp.route("/councils/<council:slug>/invitations")
@councils_blp.response(200, InvitationListSchema)
@token_required
def list_invitations(slug: str):
    """The council's pending invitations, newest first (its admins)."""
    actor = account_id(current_principal().user_id)
    return {"invitations": invitations.pending_invitations(db.session, actor_id=actor, slug=slug)}


@councils_blp.route("/councils/<council:slug>/invitations/<int:invitation_id>", methods=["DELETE"])
@councils_blp.response(204)
@token_required
def withdraw_invitation(slug: str, invitation_id: int):
    """Withdraw a pending invitation: its link stops working (its admins)."""
    invitations.withdraw_invitation(
        db.session,
        actor_id=account_id(current_principal().user_id),
        slug=slug,
        invitation_id=invitation_id,
    )


@councils_blp.route("/invitations/<token>")
@councils_blp.response(200, OfferedRoleSchema)
@token_required
def offered_role(token: str):
    """Which council and role the emailed link offers the signed-in person, or why they
    may not accept it: another address's, unconfirmed address, expired, used, withdrawn."""
    return invitations.invitation_for(db.session, settings(), current_user(), token)


@councils_blp.route("/invitations/<token>/accept", methods=["POST"])
@councils_blp.response(200, OfferedRoleSchema)
@token_required
def accept_invitation(token: str):
    """Accept the invitation: the role is granted, as the inviting admin's act, to the
    signed-in account whose confirmed address it was sent to. Once. Refresh the token
    to carry the role."""
    return invitations.accept_invitation(db.session, settings(), current_user(), token)
