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


def hand_over(session: Session) -> int:
    """Pass waiting notifications to auth; the number handed over."""
    waiting = session.scalars(
        select(PendingNotification)
        .where(PendingNotification.sent_at.is_(None), PendingNotification.attempts < 20)
        .order_by(PendingNotification.id)
        .limit(20)
    ).all()
    done = 0
    for pending in waiting:
        petition = session.get(Petition, pending.petition_id)
        people = recipients(session, petition)
        url = f"{current_app.config['PUBLIC_URL']}/petitions/{petition.id}"
        pending.attempts += 1
        try:
            for start in range(0, len(people), CHUNK):
                response = call_service(
                    "auth",
                    "POST",
                    "/internal/notifications",
                    internal=True,
                    json={
                        "user_ids": people[start : start + CHUNK],
                        "template": "petition_response",
                        "context": {"title": petition.title, "url": url},
                    },
                )
                if not response.ok:
                    raise ServiceUnavailable(f"auth answered {response.status}")
        except ServiceUnavailable as exc:
            pending.last_error = str(exc.detail or exc)[:300]
            session.commit()
            continue
        pending.sent_at = utcnow()
        session.commit()
        done += 1
    return done
