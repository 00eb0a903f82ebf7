"""Each council's petition rules: read with defaults, changed by its admins."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.common import policies
from services.common.tokens import Principal

from .errors import NotAllowed
from .models import CouncilPolicy


def policy_for(session: Session, council: str) -> CouncilPolicy:
    """The council's policy; the defaults until its admins change something."""
    return policies.policy_for(session, CouncilPolicy, council)


def publishes_rejected(session: Session, council: str) -> bool:
    """Whether the council shows its rejected petitions to everyone (kept for seconds)."""
    return policies.kept_policy(session, CouncilPolicy, council).rejected_public


def update_policy(
    session: Session, actor: Principal, council: str, changes: dict, check_only: bool = False
) -> CouncilPolicy:
    """Change the council's rules (its admins, or platform admins)."""
    if "non_working_days" in changes:
        changes = {**changes, "non_working_days": sorted(set(changes["non_working_days"]))}
    if "rejection_reasons" in changes:  # each once, in the order given
        changes = {
            **changes,
            "rejection_reasons": list(dict.fromkeys(changes["rejection_reasons"])),
        }
    return policies.update_policy(
        session, CouncilPolicy, actor, council, changes, NotAllowed(), check_only
    )
