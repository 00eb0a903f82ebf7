"""Telling signers and the author that the council answered, through auth.

Petitions knows people only by account id; auth knows their addresses and languages.
The wish to notify is written with the response; `hand_over` passes it to auth's
notification API and retries later if auth cannot take it now.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.client import ServiceUnavailable, call_service
from services.common.timeutil import utcnow

from .models import PendingNotification, Petition, Signature

CHUNK = 1000


def recipients(session: Session, petition: Petition) -> list[int]:
    """The author and every signer who asked to hear back (auth's numeric ids)."""
    ids = {
        petition.author_id,
        *session.scalars(
            select(Signature.user_id).where(
                Signature.petition_id == petition.id, Signature.notify.is_(True)
            )
        ),
    }
    return sorted(int(i) for i in ids if i.isdigit())


def hand_over(session: Session, limit: int = 20) -> int:
    """Pass waiting notifications to auth; the number handed over.

    Every process runs this job: each takes one notification at a time that no other
    holds (the row stays locked until it is marked sent or its attempt is counted), so
    nobody gets the same email twice."""
    done = 0
    tried: list[int] = []
    while len(tried) < limit:
        pending = session.scalars(
            select(PendingNotification)
            .where(
                PendingNotification.sent_at.is_(None),
                PendingNotification.attempts < 20,
                PendingNotification.id.not_in(tried),
            )
            .order_by(PendingNotification.id)
            .limit(1)
            .with_for_update(skip_locked=True, key_share=True)
        ).first()
        if pending is None:
            break
        tried.append(pending.id)
        pending.attempts += 1
        try:
            _notify(session, pending)
        except ServiceUnavailable as exc:
            pending.last_error = str(exc.detail or exc)[:300]
            session.commit()
            continue
        pending.sent_at = utcnow()
        session.commit()
        done += 1
    session.commit()
    return done


def _notify(session: Session, pending: PendingNotification) -> None:
    """Hand the recipients to auth a chunk at a time, from where an earlier attempt
    stopped (`pending.handed_over_upto`, written when the attempt ends)."""
    petition = session.get(Petition, pending.petition_id)
    people = [i for i in recipients(session, petition) if i > pending.handed_over_upto]
    url = f"{current_app.config['PUBLIC_URL']}/petitions/{petition.id}"
    for start in range(0, len(people), CHUNK):
        chunk = people[start : start + CHUNK]
        response = call_service(
            "auth",
            "POST",
            "/internal/notifications",
            internal=True,
            json={
                "user_ids": chunk,
                "template": "petition_response",
                "context": {"title": petition.title, "url": url},
            },
        )
        if not response.ok:
            raise ServiceUnavailable(f"auth answered {response.status}")
        pending.handed_over_upto = chunk[-1]
