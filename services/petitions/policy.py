"""Each council's petition rules: read with defaults, changed by its admins."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.timeutil import utcnow
from services.common.tokens import Principal

from .errors import NotAllowed
from .models import CouncilPolicy


def policy_for(session: Session, council: str) -> CouncilPolicy:
    """The council's policy; the defaults until its admins change something."""
    return session.get(CouncilPolicy, council) or CouncilPolicy(council=council, **_defaults())


def _defaults() -> dict:
    """The model's column defaults, which otherwise apply only when a row is inserted."""
    defaults = {}
    for column in CouncilPolicy.__table__.columns:
        if column.default is not None and not column.primary_key:
            value = column.default.arg
            defaults[column.key] = value(None) if callable(value) else value
    return defaults


def update_policy(session: Session, actor: Principal, council: str, changes: dict) -> CouncilPolicy:
    """Change the council's rules (its admins, or platform admins)."""
    if not (actor.platform_admin or actor.has_role(council, "admin")):
        raise NotAllowed()
    policy = policy_for(session, council)
    for key, value in changes.items():
        setattr(policy, key, value)
    policy.updated_at = utcnow()
    policy.updated_by = actor.user_id
    session.add(policy)
    session.commit()
    return policy
