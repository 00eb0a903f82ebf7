"""Moves made at once: of two moderators approving, or approving and rejecting, one
wins and the other is told (409); the timeline holds one move, never two."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from services.petitions.models import Petition, Transition, db
from tests.petitions.conftest import submitted_petition
from tests.support.concurrency import at_once

API = "/api/petitions"
pytestmark = pytest.mark.usefixtures("councils")


def moves(petitions_app, petition_id) -> list[tuple[str, str]]:
    with petitions_app.app_context():
        rows = db.session.execute(
            select(Transition.from_state, Transition.to_state)
            .where(Transition.petition_id == petition_id)
            .order_by(Transition.id)
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def test_a_write_on_a_stale_read_is_refused(client, people, petitions_app):
    petition_id = submitted_petition(client, people)
    with petitions_app.app_context(), Session(db.engine) as stale:
        read_before = stale.get(Petition, petition_id)
        moderator = people.moderator()
        approved = client.post(f"{API}/petitions/{petition_id}/approve", headers=moderator)
        assert approved.status_code == 200
        read_before.state = "rejected"
        with pytest.raises(StaleDataError):
            stale.commit()
    assert moves(petitions_app, petition_id)[-1] == ("moderation", "open")


@pytest.mark.parametrize("rounds", [3])
def test_moderators_acting_at_once_move_a_petition_once(
    gateway, client, people, petitions_app, rounds
):
    moderators = [people.moderator(n=n) for n in (1, 2, 3)]
    rejection = {"reason": "duplicate", "explanation": "The same as petition 1."}
    for _ in range(rounds):
        petition_id = submitted_petition(client, people)
        url = f"{API}/petitions/{petition_id}"
        statuses = at_once(
            gateway,
            [
                ("POST", f"{url}/approve", None, moderators[0]),
                ("POST", f"{url}/approve", None, moderators[1]),
                ("POST", f"{url}/reject", rejection, moderators[2]),
            ],
        )
        assert sorted(statuses) == [200, 409, 409], statuses
        [(from_state, to_state)] = moves(petitions_app, petition_id)[2:]  # after filing, submit
        petition = client.get(url, headers=moderators[0]).json
        assert from_state == "moderation" and to_state == petition["state"]
        assert (petition["state"] == "rejected") == (petition["rejection_reason"] is not None)
