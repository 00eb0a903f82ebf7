"""Per-council settings: a row per council that changed something, defaults otherwise.

Polls and petitions each keep their own policy table (a model with a `council` primary
key, `updated_at` and `updated_by`); these functions read and change any of them.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from sqlalchemy.orm import Session

from .errors import Forbidden
from .timeutil import utcnow
from .tokens import Principal


def policy_for(session: Session, model: type, council: str):
    """The council's policy; the column defaults until its admins change something."""
    return session.get(model, council) or model(council=council, **column_defaults(model))


KEPT_SECONDS = 5.0
# Keyed by the model itself: both services name their table council_policies, and in
# embedded mode they share this process.
_kept: dict[tuple[type, str], tuple[float, SimpleNamespace]] = {}
_kept_lock = threading.Lock()


def kept_policy(session: Session, model: type, council: str) -> SimpleNamespace:
    """The council's policy as plain values, kept for a few seconds per process: for hot
    paths (signing). A change made in this process is seen at once; one made in another
    process within KEPT_SECONDS."""
    key = (model, council)
    known = _kept.get(key)
    if known is not None and time.monotonic() - known[0] < KEPT_SECONDS:
        return known[1]
    policy = policy_for(session, model, council)
    values = SimpleNamespace(**{c.key: getattr(policy, c.key) for c in model.__table__.columns})
    with _kept_lock:
        _kept[key] = (time.monotonic(), values)
    return values


def forget_kept_policies() -> None:
    with _kept_lock:
        _kept.clear()


def column_defaults(model: type) -> dict:
    """A model's column defaults, which SQLAlchemy otherwise applies only on insert."""
    defaults = {}
    for column in model.__table__.columns:
        if column.default is not None and not column.primary_key:
            value = column.default.arg
            defaults[column.key] = value(None) if callable(value) else value
    return defaults


def update_policy(
    session: Session,
    model: type,
    actor: Principal,
    council: str,
    changes: dict,
    refusal: Exception | None = None,
    check_only: bool = False,
):
    """Change the council's settings: its admins, or platform admins. `check_only`: the
    changes, which passed the schema, would be taken; the settings as they stand."""
    if not (actor.platform_admin or actor.has_role(council, "admin")):
        raise refusal or Forbidden()
    policy = policy_for(session, model, council)
    if check_only:
        return policy
    for key, value in changes.items():
        setattr(policy, key, value)
    policy.updated_at = utcnow()
    policy.updated_by = actor.user_id
    session.add(policy)
    session.commit()
    forget_kept_policies()
    return policy
