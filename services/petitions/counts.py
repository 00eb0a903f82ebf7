"""Counts that never block signing: folded in batches, reconciled against the rows.

`fold_new_signatures` adds the signatures appended since the last fold to each
petition's count in one grouped query (behind a watermark: services.common.folding),
and moves petitions past their threshold. `reconcile_counts` recounts from the rows,
the ground truth, for any drift.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.db import engine_of
from services.common.folding import (
    add_to_count,
    advance_watermark,
    claim_settled,
    rows_past_watermarks,
)
from services.common.timeutil import utcnow

from .lifecycle import mark_successful
from .models import FoldWatermark, Petition, PetitionCount, Signature

WATERMARK = "signatures"
ANYTHING_TO_FOLD = rows_past_watermarks(FoldWatermark, [(WATERMARK, Signature.id)])


def _add(session: Session, petition_id: int, delta: int) -> None:
    key = {"petition_id": petition_id}
    add_to_count(session, PetitionCount, key, "signatures", delta, updated_at=utcnow())


def fold_new_signatures(session: Session) -> int:
    """Fold settled new signatures into the counts; the number folded."""
    if not ANYTHING_TO_FOLD.first(engine_of(session), {})[0]:
        return 0
    claimed = claim_settled(session, FoldWatermark, WATERMARK, Signature.id, Signature.created_at)
    if claimed is None:
        session.commit()
        return 0
    after, upto = claimed
    per_petition = session.execute(
        select(Signature.petition_id, func.count(Signature.id))
        .where(Signature.id > after, Signature.id <= upto, Signature.invalidation_id.is_(None))
        .group_by(Signature.petition_id)
    ).all()
    for petition_id, added in per_petition:
        _add(session, petition_id, added)
    advance_watermark(session, FoldWatermark, WATERMARK, upto)
    session.flush()
    _promote(session, [petition_id for petition_id, _ in per_petition])
    session.commit()
    return sum(added for _, added in per_petition)


def _promote(session: Session, petition_ids: list[int]) -> None:
    """Open petitions whose count reached the threshold become successful."""
    reached = session.scalars(
        select(Petition)
        .join(PetitionCount, PetitionCount.petition_id == Petition.id)
        .where(
            Petition.id.in_(petition_ids),
            Petition.state == "open",
            PetitionCount.signatures >= Petition.threshold,
        )
    ).all()
    for petition in reached:
        mark_successful(session, petition, utcnow())


def reconcile_counts(session: Session, petition_ids: list[int] | None = None) -> int:
    """Set counts to what the rows say; the number of petitions corrected.

    Only rows the aggregator has passed are compared, under its lock: newer ones are
    still to be folded in, and counting them here would count them twice."""
    mark = session.get(FoldWatermark, WATERMARK, with_for_update=True)
    folded_upto = mark.last_id if mark else 0
    query = (
        select(Signature.petition_id, func.count(Signature.id))
        .where(Signature.id <= folded_upto, Signature.invalidation_id.is_(None))
        .group_by(Signature.petition_id)
    )
    if petition_ids is not None:
        query = query.where(Signature.petition_id.in_(petition_ids))
    actual = dict(session.execute(query).all())
    stored = dict(
        session.execute(select(PetitionCount.petition_id, PetitionCount.signatures)).all()
    )
    corrected = 0
    for petition_id in set(actual) | ({*stored} if petition_ids is None else set(petition_ids)):
        truth = actual.get(petition_id, 0)
        if stored.get(petition_id) != truth:
            _add(session, petition_id, truth - stored.get(petition_id, 0))
            corrected += 1
    session.flush()
    _promote(session, list(actual))
    session.commit()
    return corrected


def in_count(session: Session, signature: Signature) -> bool:
    """Whether the folded count includes the signature already (the aggregator has
    passed it), so that its signer's page can show it at once."""
    mark = session.get(FoldWatermark, WATERMARK)
    return mark is not None and signature.id <= mark.last_id


def signature_count(session: Session, petition_id: int) -> int:
    """The folded count (at most a fold behind)."""
    return signature_counts(session, [petition_id])[petition_id]


def signature_counts(session: Session, petition_ids: list[int]) -> dict[int, int]:
    """The folded counts of the petitions, by id, in one query (0 for one not counted
    yet)."""
    counted = dict(
        session.execute(
            select(PetitionCount.petition_id, PetitionCount.signatures).where(
                PetitionCount.petition_id.in_(petition_ids)
            )
        ).all()
    )
    return {petition_id: counted.get(petition_id) or 0 for petition_id in petition_ids}
