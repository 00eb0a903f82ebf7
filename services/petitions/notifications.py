"""Telling a petition's author what became of it (approved, rejected, successful,
closed, forwarded, answered) and the signers who asked that the council answered
(response), through auth.

Petitions knows people only by account id; auth knows their addresses and languages.
The wish to notify is written with the transition; `hand_over` passes it to auth's
notification API and retries later if auth cannot take it now.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.common.client import ServiceUnavailable, call_service
from services.common.timeutil import utcnow

from .models import PendingNotification, Petition, Signature

CHUNK = 1000


def recipients(session: Session, petition: Petition, kind: str = "response") -> list[int]:
    """Who hears of it (auth's numeric ids): of the response every signer who asked to
    hear back but the author, who has a message of their own ("answered", like every
    other kind: the author alone)."""
    if kind != "response":
        ids = {petition.author_id}
    else:
        ids = set(
            session.scalars(
                select(Signature.user_id).where(
                    Signature.petition_id == petition.id, Signature.notify.is_(True)
                )
            )
        ) - {petition.author_id}
    return sorted(int(i) for i in ids if i.isdigit())


def hand_over(session: Session, limit: int = 20) -> int:
    """Pass waiting notifications to auth; the number handed over (marked sent here).

    Every process runs this job: each takes one notification at a time that no other
    holds, so nobody gets the same email twice. The progress is committed after every
    chunk auth accepted, so a retry, after auth failed or after this process died part
    way, goes on from there; a notification that fails counts an attempt and keeps its
    error."""
    done = 0
    tried: list[int] = []
    while len(tried) < limit:
        pending = session.scalars(
            _locked(
                PendingNotification.sent_at.is_(None),
                PendingNotification.attempts < 20,
                PendingNotification.id.not_in(tried),
            )
            .order_by(PendingNotification.id)
            .limit(1)
        ).first()
        if pending is None:
            break
        tried.append(pending.id)
        pending.attempts += 1
        try:
            sent = _notify(session, pending)
        except ServiceUnavailable as exc:
            pending.last_error = str(exc.detail or exc)[:300]
            session.commit()
            continue
        session.commit()
        if sent:
            done += 1
    session.commit()
    return done


def _locked(*where) -> Select:
    """Waiting notifications no other process holds, locked for this one."""
    return (
        select(PendingNotification)
        .where(*where)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )


def _notify(session: Session, pending: PendingNotification) -> bool:
    """Hand the recipients to auth a chunk at a time, from where an earlier attempt
    stopped (`pending.handed_over_upto`); whether the notification was sent.

    Each chunk auth accepts is committed with the notification's progress (and, with the
    last, its `sent_at`). Committing lets the row's lock go: the row is then locked
    again, and if another process took it meanwhile, or it moved on without us, this
    attempt stops there (False) and the other goes on from the committed progress."""
    petition = session.get(Petition, pending.petition_id)
    people = [
        i for i in recipients(session, petition, pending.kind) if i > pending.handed_over_upto
    ]
    context = {
        "title": petition.title,
        "url": f"{current_app.config['PUBLIC_URL']}/petitions/{petition.id}",
    }
    for start in range(0, len(people), CHUNK):
        chunk = people[start : start + CHUNK]
        response = call_service(
            "auth",
            "POST",
            "/internal/notifications",
            internal=True,
            json={
                "user_ids": chunk,
                "template": f"petition_{pending.kind}",
                "context": context,
                # The chunk's name at auth: if this process dies after auth took it and
                # before the progress is committed, the retry hands it over again under
                # the same name, and auth does not send it twice.
                "key": f"petition-{pending.kind}-{pending.id}-from-{chunk[0]}",
            },
        )
        if not response.ok:
            raise ServiceUnavailable(f"auth answered {response.status}")
        pending.handed_over_upto = chunk[-1]
        if start + CHUNK >= len(people):
            break
        session.commit()
        still_ours = session.scalars(
            _locked(
                PendingNotification.id == pending.id,
                PendingNotification.sent_at.is_(None),
                PendingNotification.handed_over_upto == chunk[-1],
            )
        ).first()
        if still_ours is None:
            return False
    pending.sent_at = utcnow()
    return True
