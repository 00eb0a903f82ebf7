"""Bulk invalidation: moderators take signatures out of the count, say why, and can undo it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from services.common.timeutil import utcnow
from services.petitions.counts import reconcile_counts
from services.petitions.models import Signature
from services.petitions.models import db as petitions_db
from tests.petitions.conftest import open_petition
from tests.petitions.test_browsing import fold, sign

API = "/api/petitions"
pytestmark = pytest.mark.usefixtures("councils")


def count(client, petition_id) -> int:
    return client.get(f"{API}/petitions/{petition_id}").json["signatures"]


def test_invalidate_a_suspicious_hour_then_revert(client, people, petitions_app):
    petition_id = open_petition(client, people)
    for n in range(1, 6):
        sign(client, people, petition_id, n)
    with petitions_app.app_context():  # residents 1-3 signed during a bot attack, hours ago
        petitions_db.session.execute(
            update(Signature)
            .where(Signature.user_id.in_(["r1", "r2", "r3"]))
            .values(created_at=utcnow() - timedelta(hours=3))
        )
        petitions_db.session.commit()
        petitions_db.session.remove()
    fold(petitions_app)
    sign(client, people, petition_id, 6)  # not folded yet
    moderator = people.moderator()
    window = {
        "reason": "Підписи з бот-мережі",
        "signed_from": (utcnow() - timedelta(hours=4)).isoformat(),
        "signed_until": (utcnow() - timedelta(hours=2)).isoformat(),
    }
    made = client.post(
        f"{API}/petitions/{petition_id}/invalidations", json=window, headers=moderator
    )
    assert made.status_code == 201 and made.json["signatures"] == 3
    by_account = client.post(
        f"{API}/petitions/{petition_id}/invalidations",
        json={"reason": "Підпис за іншу особу", "user_id": "r6"},
        headers=moderator,
    )
    assert by_account.status_code == 201 and by_account.json["signatures"] == 1
    fold(petitions_app)
    assert count(client, petition_id) == 2  # residents 4 and 5
    signers = client.get(f"{API}/petitions/{petition_id}/signers").json["signers"]
    assert signers == ["Resident 4", "Resident 5"]
    with petitions_app.app_context():
        assert reconcile_counts(petitions_db.session) == 0
        petitions_db.session.remove()

    reverted = client.post(
        f"{API}/petitions/{petition_id}/invalidations/{made.json['id']}/revert", headers=moderator
    )
    assert reverted.status_code == 200 and reverted.json["reverted_at"]
    again = client.post(
        f"{API}/petitions/{petition_id}/invalidations/{made.json['id']}/revert", headers=moderator
    )
    assert again.status_code == 409
    fold(petitions_app)
    assert count(client, petition_id) == 5
    listed = client.get(f"{API}/petitions/{petition_id}/invalidations", headers=moderator).json
    assert [i["signatures"] for i in listed["invalidations"]] == [3, 1]
    # An invalidated person still cannot sign twice.
    again = client.post(
        f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(6)
    )
    assert again.status_code == 409


def test_only_the_councils_moderators_invalidate(client, people):
    petition_id = open_petition(client, people)
    sign(client, people, petition_id, 1)
    body = {"reason": "Без причини взагалі", "user_id": "r1"}
    url = f"{API}/petitions/{petition_id}/invalidations"
    for headers in (people.resident(1), people.moderator("oliivka"), people.admin("oliivka")):
        assert client.post(url, json=body, headers=headers).status_code == 403
    assert client.post(url, json=body).status_code == 401
    assert client.get(url, headers=people.resident(1)).status_code == 403
    no_criteria = client.post(url, json={"reason": "Усі підписи"}, headers=people.moderator())
    assert no_criteria.status_code == 422 and "criteria" in no_criteria.json["errors"]
    assert client.post(url, json={"user_id": "r1"}, headers=people.moderator()).status_code == 422
    assert client.get(url, headers=people.moderator()).json["invalidations"] == []
