"""Signing: one appended row per person, guarded by the database's unique constraints.

Withdrawing (where the council allows it) deletes the row; if the aggregator had counted
it already, the count goes down by one in the same transaction, under the aggregator's
lock so that a fold running meanwhile cannot count it again or miss the change.
"""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.db import engine_of, group_insert_if
from services.common.errors import NotFound
from services.common.folding import add_to_count
from services.common.policies import kept_policy
from services.common.receipts import new_receipt
from services.common.timeutil import utcnow
from services.common.tokens import Principal

from .counts import WATERMARK
from .errors import AlreadySigned, NotAllowed, WrongState
from .lifecycle import _require_verified, get_petition
from .models import CouncilPolicy, FoldWatermark, Petition, PetitionCount, Signature
from .policy import policy_for


def _open_now(petition_id, now):
    """The petition takes signatures at `now`."""
    return exists().where(
        Petition.id == petition_id,
        Petition.state == "open",
        Petition.hidden.is_(False),
        or_(Petition.deadline_at.is_(None), Petition.deadline_at > now),
    )


# The hot statements, built once: building one per signature costs more than running it.
# A signature goes in only if the petition takes signatures now, so that signing is one
# statement; a unique constraint refuses a second signature. Signatures arriving at the
# same moment go in together (GroupInsert), on PostgreSQL.
_COLUMNS = (
    "petition_id",
    "user_id",
    "email_hash",
    "phone_hash",
    "signer_name",
    "receipt",
    "notify",
    "created_at",
)
SIGNATURES = group_insert_if(
    Signature.__table__,
    _COLUMNS,
    lambda row: _open_now(row.petition_id, row.created_at),
    key="receipt",
)
_councils: dict[int, str] = {}  # a petition's council never changes


def forget_petition_councils() -> None:
    """Tests empty the tables, and ids come again."""
    _councils.clear()


def _council_of(session: Session, petition_id: int, actor: Principal) -> str:
    council = _councils.get(petition_id)
    if council is None:
        council = get_petition(session, petition_id, actor).council
        _councils[petition_id] = council
    return council


def sign(session: Session, actor: Principal, petition_id: int, *, notify: bool = False) -> str:
    """Sign an open petition once per person (per account, confirmed mailbox and verified
    phone); the receipt id.

    The path is short on purpose (it is the busiest one): the council's rules come from
    memory, and one statement inserts the signature if the petition takes signatures
    now (with others arriving at the same moment); only a refusal reads the petition to
    say why."""
    council = _council_of(session, petition_id, actor)
    _require_verified(actor, kept_policy(session, CouncilPolicy, council).signer_verification)
    receipt = new_receipt()
    try:
        inserted = SIGNATURES.insert(
            engine_of(session),
            {
                "petition_id": petition_id,
                "user_id": actor.user_id,
                "email_hash": actor.email_hash,
                "phone_hash": actor.phone_hash,
                "signer_name": actor.name,
                "receipt": receipt,
                "notify": notify,
                "created_at": utcnow(),
            },
        )
    except IntegrityError as exc:
        raise AlreadySigned(gettext("You have signed this petition already.")) from exc
    if not inserted:
        petition = get_petition(session, petition_id, actor)
        if petition.deadline_at is not None and petition.deadline_at < utcnow():
            raise WrongState(gettext("The signature period of this petition is over."))
        raise WrongState(gettext("This petition is not collecting signatures."))
    return receipt


def own_signature(session: Session, actor: Principal, petition_id: int) -> Signature:
    """The caller's signature on a petition they may see; NotFound when they have not
    signed it (with this account)."""
    petition = get_petition(session, petition_id, actor)
    signature = session.scalar(_signature_of(petition.id, actor))
    if signature is None:
        raise NotFound(gettext("You have not signed this petition."))
    return signature


def _signature_of(petition_id: int, actor: Principal):
    return select(Signature).where(
        Signature.petition_id == petition_id, Signature.user_id == actor.user_id
    )


def withdraw(session: Session, actor: Principal, petition_id: int) -> None:
    """Take one's signature back from an open petition, where the council allows it."""
    petition = get_petition(session, petition_id, actor)
    if not policy_for(session, petition.council).allow_withdrawal:
        raise NotAllowed(gettext("This council does not let signatures be withdrawn."))
    if petition.state != "open":
        raise WrongState(gettext("Signatures can be withdrawn only while the petition is open."))
    mark = session.get(FoldWatermark, WATERMARK, with_for_update=True)
    signature = session.scalar(_signature_of(petition.id, actor).with_for_update())
    if signature is None:
        session.rollback()
        raise NotFound(gettext("You have not signed this petition."))
    if signature.invalidation_id is not None:
        # Set aside by the moderators, it counts nowhere; deleting it would take one
        # more off the count and let its signer sign afresh.
        session.rollback()
        raise NotAllowed(gettext("The moderators set this signature aside: it stays as it is."))
    if mark is not None and signature.id <= mark.last_id:
        add_to_count(session, PetitionCount, {"petition_id": petition.id}, "signatures", -1)
    session.delete(signature)
    session.commit()
