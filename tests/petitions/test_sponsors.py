"""Sponsors before moderation: a link the author shares, backed once per person."""

from __future__ import annotations

import pytest

from tests.petitions.conftest import TEXT

API = "/api/petitions"
pytestmark = pytest.mark.usefixtures("councils")


def submitted_with_sponsors(client, people, needed=2) -> tuple[int, str]:
    assert (
        client.put(
            f"{API}/councils/kyiv/policy", json={"sponsors_needed": needed}, headers=people.admin()
        ).status_code
        == 200
    )
    author = people.resident(100)
    created = client.post(
        f"{API}/petitions",
        json={"council": "kyiv", "title": "Сквер замість парковки", "text": TEXT},
        headers=author,
    ).json
    submitted = client.post(f"{API}/petitions/{created['id']}/submit", headers=author)
    assert submitted.status_code == 200 and submitted.json["state"] == "sponsors"
    mine = client.get(f"{API}/petitions/{created['id']}/sponsorship", headers=author).json
    assert mine["needed"] == needed and mine["sponsors"] == 0
    return created["id"], mine["link"].split("token=", 1)[1]


def test_sponsors_bring_a_petition_to_moderation(client, people):
    petition_id, token = submitted_with_sponsors(client, people)
    url = f"{API}/petitions/{petition_id}/sponsors"
    # Moderators do not see it yet; link holders do.
    queue = client.get(f"{API}/councils/kyiv/moderation", headers=people.moderator()).json
    assert petition_id not in [p["id"] for p in queue["petitions"]]
    seen = client.get(f"{API}/petitions/{petition_id}/sponsorship?token={token}")
    assert seen.status_code == 200 and seen.json["link"] is None
    assert client.get(f"{API}/petitions/{petition_id}/sponsorship").status_code == 404

    first = client.post(url, json={"token": token}, headers=people.resident(1))
    assert first.status_code == 201 and first.json["sponsors"] == 1
    again = client.post(url, json={"token": token}, headers=people.resident(1))
    assert again.status_code == 409
    same_phone = client.post(
        url, json={"token": token}, headers=people.resident(2, phone_hash="phone-1")
    )
    assert same_phone.status_code == 409
    same_mailbox = client.post(
        url, json={"token": token}, headers=people.resident(5, email_hash="mailbox-1")
    )
    assert same_mailbox.status_code == 409
    last = client.post(url, json={"token": token}, headers=people.resident(3))
    assert last.status_code == 201 and last.json["petition"]["state"] == "moderation"
    late = client.post(url, json={"token": token}, headers=people.resident(4))
    assert late.status_code == 409 and late.json["type"].endswith(":wrong-state")
    queue = client.get(f"{API}/councils/kyiv/moderation", headers=people.moderator()).json
    assert petition_id in [p["id"] for p in queue["petitions"]]
    timeline = client.get(f"{API}/petitions/{petition_id}/timeline", headers=people.moderator())
    assert [t["to"] for t in timeline.json["timeline"]][-2:] == ["sponsors", "moderation"]


def test_no_link_no_sponsorship(client, people):
    petition_id, token = submitted_with_sponsors(client, people)
    url = f"{API}/petitions/{petition_id}/sponsors"
    assert (
        client.post(url, json={"token": "guessed"}, headers=people.resident(1)).status_code == 403
    )
    assert client.post(url, json={"token": token}, headers=people.resident(100)).status_code == 403
    unverified = people.resident(5, phone_verified=False, phone_hash=None)
    assert client.post(url, json={"token": token}, headers=unverified).status_code == 403
    assert client.post(url, json={"token": token}).status_code == 401
    assert client.post(url, json={}, headers=people.resident(1)).status_code == 422
    mine = client.get(f"{API}/petitions/{petition_id}/sponsorship", headers=people.resident(100))
    assert mine.json["sponsors"] == 0


def test_without_sponsors_a_petition_goes_straight_to_moderation(client, people):
    author = people.resident(100)
    created = client.post(
        f"{API}/petitions",
        json={"council": "kyiv", "title": "Сквер замість парковки", "text": TEXT},
        headers=author,
    ).json
    submitted = client.post(f"{API}/petitions/{created['id']}/submit", headers=author)
    assert submitted.json["state"] == "moderation"
    assert (
        client.get(f"{API}/petitions/{created['id']}/sponsorship", headers=author).status_code
        == 404
    )
