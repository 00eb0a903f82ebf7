"""Signing: one appended row per person, guarded by the database's unique constraints."""

from __future__ import annotations

import secrets

from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.timeutil import as_utc, utcnow
from services.common.tokens import Principal

from .errors import AlreadySigned, WrongState
from .lifecycle import _require_verified, get_petition
from .models import Signature
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
