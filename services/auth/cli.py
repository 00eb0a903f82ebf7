"""`viche auth ...`: operator commands for the auth service."""

from __future__ import annotations

import click

from .keys import rotate_signing_key
from .models import db


@click.group("auth")
def auth_cli() -> None:
    """Accounts, councils and signing keys."""


@auth_cli.command("rotate-keys")
def rotate_keys() -> None:
    """Start signing with a new key; the old one stays published for an hour."""
    from gateway.cli import service_app_context

    with service_app_context("auth") as app:
        key = rotate_signing_key(db.session, app.config["SECRET_KEY"])
        click.echo(f"now signing with key {key.kid}")


def _user_id(session, who: str) -> int:
    """An account by id or by email address."""
    from sqlalchemy import select

    from .accounts.models import User

    if who.isdigit():
        return int(who)
    user_id = session.scalar(select(User.id).where(User.email == who.lower()))
    if user_id is None:
        raise click.ClickException(f"no account with the address {who}")
    return user_id


@auth_cli.command("create-council")
@click.argument("slug")
@click.argument("name")
@click.option("--language", default="uk", show_default=True, help="default language")
@click.option(
    "--time-zone",
    default=None,
    help="IANA time zone, e.g. Europe/Budapest  [default: VICHE_DEFAULT_TIME_ZONE]",
)
def create_council(slug: str, name: str, language: str, time_zone: str | None) -> None:
    """Add a council."""
    from marshmallow import ValidationError

    from gateway.cli import service_app_context
    from services.common.errors import Problem

    from .councils.api import CouncilSchema
    from .councils.domain import create_council as create

    given = {"slug": slug, "name": name, "default_language": language}
    if time_zone is not None:
        given["time_zone"] = time_zone
    with service_app_context("auth"):
        try:
            # Checked as the API checks a new council (a name is one line, 200 at most).
            council = create(db.session, **CouncilSchema().load(given))
        except ValidationError as invalid:
            raise click.ClickException(_not_created(invalid.messages)) from invalid
        except Problem as problem:
            raise click.ClickException(_not_created(problem.errors, problem.detail)) from problem
        click.echo(f"council {council.slug} created ({council.time_zone})")


def _not_created(errors: dict | None, detail: str | None = None) -> str:
    """Why not: a line for each field at fault ("name: Write one line, …"), else the
    detail."""
    if not errors:
        return f"council not created: {detail}"
    faults = (f"  {field}: {' '.join(messages)}" for field, messages in errors.items())
    return "\n".join(["council not created:", *faults])


@auth_cli.command("grant-role")
@click.argument("council")
@click.argument("who")
@click.argument("role", type=click.Choice(["moderator", "admin"]))
def grant_role(council: str, who: str, role: str) -> None:
    """Give an account (id or email) a role in a council."""
    from .councils.domain import grant_role as grant

    _change_role(grant, council, who, role)
    click.echo(f"{who} is {role} of {council}")


@auth_cli.command("revoke-role")
@click.argument("council")
@click.argument("who")
@click.argument("role", type=click.Choice(["moderator", "admin"]))
def revoke_role(council: str, who: str, role: str) -> None:
    """Take a role in a council away from an account (id or email); its access tokens
    stop working within seconds."""
    from .councils.domain import revoke_role as revoke

    _change_role(revoke, council, who, role)
    click.echo(f"{who} is no longer {role} of {council}")


def _change_role(change, council: str, who: str, role: str) -> None:
    from gateway.cli import service_app_context
    from services.common.errors import Problem

    with service_app_context("auth"):
        try:
            change(
                db.session,
                actor_id=None,
                slug=council,
                user_id=_user_id(db.session, who),
                role=role,
            )
        except Problem as problem:
            raise click.ClickException(problem.detail or problem.title) from problem


@auth_cli.command("grant-platform-admin")
@click.argument("who")
def grant_platform_admin(who: str) -> None:
    """Make an account (id or email) a platform admin."""
    from gateway.cli import service_app_context

    from .councils.domain import grant_platform_admin as grant

    with service_app_context("auth"):
        grant(db.session, _user_id(db.session, who))
        click.echo(f"{who} is a platform admin")


@auth_cli.command("revoke-platform-admin")
@click.argument("who")
def revoke_platform_admin(who: str) -> None:
    """Make a platform admin (id or email) an ordinary account again; its access tokens
    stop working within seconds."""
    from gateway.cli import service_app_context

    from .councils.domain import revoke_platform_admin as revoke

    with service_app_context("auth"):
        if not revoke(db.session, _user_id(db.session, who)):
            raise click.ClickException(f"{who} is not a platform admin")
        click.echo(f"{who} is no longer a platform admin")
