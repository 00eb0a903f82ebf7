"""Petitions tests: councils that exist in auth, and residents and moderators with tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, update

from services.common.timeutil import utcnow
from services.petitions.models import Petition, Signature, db

TEXT = "Просимо встановити ліхтарі на вулиці Шевченка, бо ввечері там темно й небезпечно."


TITLE = "Ліхтарі на вулиці Шевченка"


def submitted_petition(client, people, council="kyiv", title=TITLE) -> int:
    """A petition filed and submitted by resident 100: awaiting moderation."""
    author = people.resident(100)
    created = client.post(
        "/api/petitions/petitions",
        json={"council": council, "title": title, "text": TEXT},
        headers=author,
    )
    assert created.status_code == 201, created.json
    petition_id = created.json["id"]
    submitted = client.post(f"/api/petitions/petitions/{petition_id}/submit", headers=author)
    assert submitted.status_code == 200, submitted.json
    return petition_id


def rejected_petition(client, people, title, reason, explanation, council="kyiv") -> int:
    """A petition submitted and rejected by the council's moderator."""
    petition_id = submitted_petition(client, people, council, title)
    rejected = client.post(
        f"/api/petitions/petitions/{petition_id}/reject",
        json={"reason": reason, "explanation": explanation},
        headers=people.moderator(council),
    )
    assert rejected.status_code == 200, rejected.json
    return petition_id


def open_petition(client, people, council="kyiv", threshold=None, title=TITLE) -> int:
    """A petition filed, submitted and approved: collecting signatures."""
    if threshold is not None:
        response = client.put(
            f"/api/petitions/councils/{council}/policy",
            json={"threshold": threshold},
            headers=people.admin(council),
        )
        assert response.status_code == 200, response.json
    petition_id = submitted_petition(client, people, council, title)
    assert (
        client.post(
            f"/api/petitions/petitions/{petition_id}/approve", headers=people.moderator(council)
        ).status_code
        == 200
    )
    return petition_id


def make_due_date_pass(petitions_app, petition_id: int, column: str) -> None:
    """Let the petition's moderation_due_at, response_due_at or deadline_at pass."""
    with petitions_app.app_context():
        db.session.execute(
            update(Petition)
            .where(Petition.id == petition_id)
            .values({column: utcnow() - timedelta(hours=1)})
        )
        db.session.commit()


def add_signers(petitions_app, petition_id: int, count: int, first: int = 1) -> None:
    """`count` signatures written straight to the table (no requests): "Підписант 1" to
    "Підписант <count>", account ids 1 to count, receipts r000…1 and on (numbered from
    `first` instead of 1 where given)."""
    with petitions_app.app_context():
        db.session.execute(
            insert(Signature),
            [
                {
                    "petition_id": petition_id,
                    "user_id": n,
                    "signer_name": f"Підписант {n}",
                    "receipt": f"r{n:023d}",
                    "notify": False,
                    "created_at": utcnow(),
                }
                for n in range(first, first + count)
            ],
        )
        db.session.commit()
        db.session.remove()
