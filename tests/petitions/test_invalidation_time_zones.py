"""A bulk invalidation's time window given with an offset selects the instants it names."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from services.common.timeutil import utcnow
from services.petitions.models import Signature
from services.petitions.models import db as petitions_db
from tests.petitions.conftest import open_petition
from tests.petitions.test_browsing import fold, sign

API = "/api/petitions"
KYIV_SUMMER = timezone(timedelta(hours=3))
pytestmark = pytest.mark.usefixtures("councils")


def test_a_window_given_in_plus_three_takes_out_exactly_the_signatures_inside_it(
    client, people, petitions_app
):
    petition_id = open_petition(client, people)
    start = utcnow().replace(microsecond=0) - timedelta(days=1)
    signed_at = {
        1: start - timedelta(seconds=1),  # just before the window
        2: start,  # its first instant: inside
        3: start + timedelta(minutes=30),
        4: start + timedelta(hours=1),  # its end: outside
        # Where the window would fall if its +03:00 wall clock were read as UTC.
        5: start + timedelta(hours=3, minutes=30),
    }
    for n in signed_at:
        sign(client, people, petition_id, n)
    with petitions_app.app_context():
        for n, at in signed_at.items():
            petitions_db.session.execute(
                update(Signature).where(Signature.user_id == f"r{n}").values(created_at=at)
            )
        petitions_db.session.commit()
        petitions_db.session.remove()
    fold(petitions_app)

    moderator = people.moderator()
    made = client.post(
        f"{API}/petitions/{petition_id}/invalidations",
        json={
            "reason": "Підписи з бот-мережі",
            "signed_from": start.astimezone(KYIV_SUMMER).isoformat(),
            "signed_until": (start + timedelta(hours=1)).astimezone(KYIV_SUMMER).isoformat(),
        },
        headers=moderator,
    )
    assert made.status_code == 201, made.json
    assert made.json["signatures"] == 2
    signers = client.get(f"{API}/petitions/{petition_id}/signers").json["signers"]
    assert signers == ["Resident 1", "Resident 4", "Resident 5"]
    assert client.get(f"{API}/petitions/{petition_id}").json["signatures"] == 3

    # The record's own times are RFC 3339 date-times, in UTC.
    reverted = client.post(
        f"{API}/petitions/{petition_id}/invalidations/{made.json['id']}/revert", headers=moderator
    )
    assert reverted.status_code == 200
    listed = client.get(f"{API}/petitions/{petition_id}/invalidations", headers=moderator)
    (record,) = listed.json["invalidations"]
    for key in ("created_at", "reverted_at"):
        assert datetime.fromisoformat(record[key]).utcoffset() == timedelta(0), record[key]
