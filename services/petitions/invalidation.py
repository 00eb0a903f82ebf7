"""Bulk invalidation: moderators take signatures out of the count by criteria (a time
window, an account), with a reason; recorded, and reversible.

Invalidated rows stay (so the same person still cannot sign twice) but carry the
invalidation's id, and neither the aggregator nor the reconciliation counts them. The
count moves at once for rows already folded, under the aggregator's lock; rows not yet
folded are simply skipped (or, after a revert, picked up) by the next fold.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.common.errors import NotFound, ValidationFailed
from services.common.folding import add_to_count
from services.common.timeutil import utcnow
from services.common.tokens import Principal

from .counts import WATERMARK
from .errors import NotAllowed, WrongState
from .lifecycle import get_petition, is_moderator, moderated_petition
from .models import FoldWatermark, Invalidation, PetitionCount, Signature


def _of_council(session: Session, actor: Principal, petition_id: int):
    """The petition, for a moderator of its council (to read its invalidations)."""
    petition = get_petition(session, petition_id, actor)
    if not is_moderator(actor, petition.council):
        raise NotAllowed()
    return petition


def _folded_upto(session: Session) -> int:
    """Lock the aggregator's watermark (no fold runs meanwhile); the last id it counted."""
    mark = session.get(FoldWatermark, WATERMARK, with_for_update=True)
    return mark.last_id if mark else 0


def _criteria_clauses(criteria: dict) -> list:
    clauses = []
    if criteria.get("signed_from"):
        clauses.append(Signature.created_at >= datetime.fromisoformat(criteria["signed_from"]))
    if criteria.get("signed_until"):
        clauses.append(Signature.created_at < datetime.fromisoformat(criteria["signed_until"]))
    if criteria.get("user_id"):
        clauses.append(Signature.user_id == criteria["user_id"])
    return clauses


def invalidate(
    session: Session, actor: Principal, petition_id: int, *, reason: str, criteria: dict
) -> Invalidation:
    """Take the petition's counted signatures matching `criteria` out of the count."""
    petition = moderated_petition(session, actor, petition_id)
    clauses = _criteria_clauses(criteria)
    if not clauses:
        raise ValidationFailed(errors={"criteria": [gettext("Name a time window or an account.")]})
    folded_upto = _folded_upto(session)
    matched = [Signature.petition_id == petition.id, Signature.invalidation_id.is_(None), *clauses]
    record = Invalidation(
        petition_id=petition.id,
        reason=reason,
        criteria=criteria,
        signatures=0,
        actor_id=actor.user_id,
        created_at=utcnow(),
    )
    session.add(record)
    session.flush()
    folded = session.scalar(
        select(func.count(Signature.id)).where(*matched, Signature.id <= folded_upto)
    )
    record.signatures = session.execute(
        update(Signature).where(*matched).values(invalidation_id=record.id)
    ).rowcount
    if folded:
        add_to_count(session, PetitionCount, {"petition_id": petition.id}, "signatures", -folded)
    session.commit()
    return record


def revert(session: Session, actor: Principal, petition_id: int, invalidation_id: int):
    """Count the invalidation's signatures again."""
    petition = moderated_petition(session, actor, petition_id)
    record = session.get(Invalidation, invalidation_id)
    if record is None or record.petition_id != petition.id:
        raise NotFound(gettext("There is no such invalidation."))
    if record.reverted_at is not None:
        raise WrongState(gettext("This invalidation was reverted already."))
    folded_upto = _folded_upto(session)
    folded = session.scalar(
        select(func.count(Signature.id)).where(
            Signature.invalidation_id == record.id, Signature.id <= folded_upto
        )
    )
    session.execute(
        update(Signature).where(Signature.invalidation_id == record.id).values(invalidation_id=None)
    )
    if folded:
        add_to_count(session, PetitionCount, {"petition_id": petition.id}, "signatures", folded)
    record.reverted_at, record.reverted_by = utcnow(), actor.user_id
    session.commit()
    return record


def invalidations(session: Session, actor: Principal, petition_id: int) -> list[Invalidation]:
    petition = _of_council(session, actor, petition_id)
    return session.scalars(
        select(Invalidation)
        .where(Invalidation.petition_id == petition.id)
        .order_by(Invalidation.id)
    ).all()
