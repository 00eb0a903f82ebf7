"""Signing: one appended row per person, guarded by the database's unique constraints.

Withdrawing (where the council allows it) deletes the row; if the aggregator had counted
it already, the count goes down by one in the same transaction, under the aggregator's
lock so that a fold running meanwhile cannot count it again or miss the change.
"""

from __future__ import annotations

import secrets

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.errors import NotFound
from services.common.folding import add_to_count
from services.common.timeutil import as_utc, utcnow
from services.common.tokens import Principal

from .counts import WATERMARK
from .errors import AlreadySigned, NotAllowed, WrongState
from .lifecycle import _require_verified, get_petition
from .models import FoldWatermark, PetitionCount, Signature
from .policy import policy_for


def sign(session: Session, actor: Principal, petition_id: int, *, notify: bool = False) -> str:
    """Sign an open petition once per account and per verified phone; the receipt id."""
    petition = get_petition(session, petition_id, actor)
    if petition.state != "open" or petition.hidden:
        raise WrongState(gettext("This petition is not collecting signatures."))
    if petition.deadline_at is not None and as_utc(petition.deadline_at) < utcnow():
        raise WrongState(gettext("The signature period of this petition is over."))
    level = policy_for(session, petition.council).signer_verification
    _require_verified(actor, level)
    receipt = secrets.token_hex(12)
    session.add(
        Signature(
            petition_id=petition.id,
            user_id=actor.user_id,
            phone_hash=actor.phone_hash if actor.phone_verified else None,
            signer_name=actor.name,
            receipt=receipt,
            notify=notify,
            created_at=utcnow(),
        )
    )
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise AlreadySigned(gettext("You have signed this petition already.")) from exc
    return receipt


def withdraw(session: Session, actor: Principal, petition_id: int) -> None:
    """Take one's signature back from an open petition, where the council allows it."""
    petition = get_petition(session, petition_id, actor)
    if not policy_for(session, petition.council).allow_withdrawal:
        raise NotAllowed(gettext("This council does not let signatures be withdrawn."))
    if petition.state != "open":
        raise WrongState(gettext("Signatures can be withdrawn only while the petition is open."))
    mark = session.get(FoldWatermark, WATERMARK, with_for_update=True)
    signature = session.scalar(
        select(Signature)
        .where(Signature.petition_id == petition.id, Signature.user_id == actor.user_id)
        .with_for_update()
    )
    if signature is None:
        session.rollback()
        raise NotFound(gettext("You have not signed this petition."))
    if mark is not None and signature.id <= mark.last_id:
        add_to_count(session, PetitionCount, {"petition_id": petition.id}, "signatures", -1)
    session.delete(signature)
    session.commit()
