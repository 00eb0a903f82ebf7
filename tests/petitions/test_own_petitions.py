"""A resident's own petitions: the list of them in every state, deleting a draft; and
nobody deciding on a petition of their own (or one they sponsored)."""

from __future__ import annotations

import pytest

from tests.petitions.conftest import TEXT, open_petition, rejected_petition, submitted_petition
from tests.petitions.test_sponsors import submitted_with_sponsors

API = "/api/petitions"
pytestmark = pytest.mark.usefixtures("councils")


def draft(client, headers, title="Більше лавок у парку", council="kyiv") -> int:
    created = client.post(
        f"{API}/petitions", json={"council": council, "title": title, "text": TEXT}, headers=headers
    )
    assert created.status_code == 201, created.json
    return created.json["id"]


def mine(client, headers, **query):
    return client.get(f"{API}/petitions/mine", query_string=query, headers=headers)


def test_my_petitions_in_every_state_newest_first_and_no_one_elses(client, people):
    author = people.resident(100)
    client.put(
        f"{API}/councils/kyiv/policy", json={"rejected_public": False}, headers=people.admin()
    )
    rejected = rejected_petition(client, people, "Ліхтарі біля школи", "duplicate", "Така вже є.")
    taken_down = open_petition(client, people, title="Сквер біля ринку")
    assert (
        client.post(
            f"{API}/petitions/{taken_down}/take-down",
            json={"reason": "Порушує правила"},
            headers=people.moderator(),
        ).status_code
        == 200
    )
    waiting = submitted_petition(client, people, title="Світлофор на розі")
    own_draft = draft(client, author)
    others = draft(client, people.resident(2), "Чужа чернетка")
    listed = mine(client, author)
    assert listed.status_code == 200
    assert "no-store" in listed.headers["Cache-Control"]
    assert "private" in listed.headers["Cache-Control"]
    petitions = listed.json["petitions"]
    assert [p["id"] for p in petitions] == [own_draft, waiting, taken_down, rejected]
    assert [p["state"] for p in petitions] == ["draft", "moderation", "open", "rejected"]
    assert petitions[2]["hidden"] is True and petitions[3]["rejected_at"]
    assert all(p["yours"] and p["signatures"] == 0 for p in petitions)
    assert listed.json["next_cursor"] is None
    # The other resident sees their own draft only; a stranger's list leaks nothing.
    assert [p["id"] for p in mine(client, people.resident(2)).json["petitions"]] == [others]
    assert mine(client, people.resident(3)).json == {"petitions": [], "next_cursor": None}


def test_my_petitions_page_by_cursor(client, people):
    author = people.resident(100)
    ids = [draft(client, author, f"Чернетка номер {n}") for n in range(5)]
    seen, cursor = [], None
    for _ in range(3):
        page = mine(client, author, limit=2, **({"cursor": cursor} if cursor else {})).json
        seen += [p["id"] for p in page["petitions"]]
        cursor = page["next_cursor"]
    assert seen == ids[::-1] and cursor is None
    assert mine(client, author, cursor="not-a-cursor").status_code == 422
    assert mine(client, author, limit=0).status_code == 422
    assert mine(client, author, limit=101).status_code == 422


def test_my_petitions_need_a_signed_in_caller(client):
    refused = client.get(f"{API}/petitions/mine")
    assert refused.status_code == 401
    assert refused.json["type"] == "urn:viche:problem:unauthorized"


def test_the_author_deletes_a_draft_and_nobody_else_can(client, people):
    author = people.resident(100)
    petition_id = draft(client, author)
    url = f"{API}/petitions/{petition_id}"
    assert client.delete(url).status_code == 401
    # Nobody else learns that the draft exists, the council's moderators included.
    attacker = client.delete(url, headers=people.resident(2))
    assert attacker.status_code == 404 and attacker.json["type"].endswith(":not-found")
    assert client.delete(url, headers=people.moderator()).status_code == 404
    for path in ("", "/timeline"):
        assert client.get(url + path, headers=people.moderator()).status_code == 404
    assert client.delete(url, headers=people.moderator("oliivka")).status_code == 404
    assert client.get(url, headers=author).json["state"] == "draft"
    assert client.delete(url, headers=author).status_code == 204
    assert client.get(url, headers=author).status_code == 404
    assert client.delete(url, headers=author).status_code == 404
    assert mine(client, author).json["petitions"] == []


def test_only_a_draft_can_be_deleted(client, people):
    author = people.resident(100)
    petition_id = submitted_petition(client, people)
    refused = client.delete(f"{API}/petitions/{petition_id}", headers=author)
    assert refused.status_code == 409 and refused.json["type"].endswith(":wrong-state")
    assert refused.json["detail"] == "Only a draft can be deleted."
    assert client.get(f"{API}/petitions/{petition_id}", headers=author).json["state"] == (
        "moderation"
    )
    timeline = client.get(f"{API}/petitions/{petition_id}/timeline", headers=author).json
    assert [t["to"] for t in timeline["timeline"]] == ["draft", "moderation"]


def test_a_moderator_does_not_decide_on_their_own_petition(client, people):
    client.put(
        f"{API}/councils/kyiv/policy", json={"author_verification": "email"}, headers=people.admin()
    )
    own, colleague = people.moderator(n=1), people.moderator(n=2)
    petition_id = draft(client, own, "Моя власна петиція")
    assert client.post(f"{API}/petitions/{petition_id}/submit", headers=own).status_code == 200
    queue = client.get(f"{API}/councils/kyiv/moderation", headers=own).json["petitions"]
    assert [(p["id"], p["yours"]) for p in queue] == [(petition_id, True)]
    for decision, body in (
        ("approve", None),
        ("reject", {"reason": "duplicate", "explanation": "Така вже є."}),
    ):
        refused = client.post(f"{API}/petitions/{petition_id}/{decision}", json=body, headers=own)
        assert refused.status_code == 403, decision
        assert refused.json["type"] == "urn:viche:problem:own-petition"
        assert refused.json["detail"] == (
            "Another moderator of the council must decide on your own petition."
        )
    assert client.get(f"{API}/petitions/{petition_id}", headers=own).json["state"] == "moderation"
    approved = client.post(f"{API}/petitions/{petition_id}/approve", headers=colleague)
    assert approved.status_code == 200 and approved.json["yours"] is False
    down = client.post(
        f"{API}/petitions/{petition_id}/take-down", json={"reason": "Сама прибираю"}, headers=own
    )
    assert down.status_code == 403 and down.json["type"].endswith(":own-petition")
    assert client.get(f"{API}/petitions/{petition_id}").json["hidden"] is False
    # Nor does the author set aside signatures of it: the count is not theirs to trim.
    invalidations = f"{API}/petitions/{petition_id}/invalidations"
    window = {"reason": "Не мої прихильники", "user_id": "r6"}
    set_aside = client.post(invalidations, json=window, headers=own)
    assert set_aside.status_code == 403 and set_aside.json["type"].endswith(":own-petition")
    assert client.get(invalidations, headers=own).json["invalidations"] == []
    assert client.post(invalidations, json=window, headers=colleague).status_code == 201


def test_a_moderator_who_sponsored_a_petition_does_not_moderate_it(client, people):
    petition_id, token = submitted_with_sponsors(client, people, needed=1)
    backer, colleague = people.moderator(n=1), people.moderator(n=2)
    client.put(
        f"{API}/councils/kyiv/policy", json={"signer_verification": "email"}, headers=people.admin()
    )
    backed = client.post(
        f"{API}/petitions/{petition_id}/sponsors", json={"token": token}, headers=backer
    )
    assert backed.status_code == 201 and backed.json["petition"]["state"] == "moderation"
    queue = client.get(f"{API}/councils/kyiv/moderation", headers=backer).json["petitions"]
    assert [(p["id"], p["you_sponsored"]) for p in queue] == [(petition_id, True)]
    refused = client.post(f"{API}/petitions/{petition_id}/approve", headers=backer)
    assert refused.status_code == 403 and refused.json["type"].endswith(":own-petition")
    assert "a petition you sponsored" in refused.json["detail"]
    queue = client.get(f"{API}/councils/kyiv/moderation", headers=colleague).json["petitions"]
    assert queue[0]["you_sponsored"] is False
    assert (
        client.post(f"{API}/petitions/{petition_id}/approve", headers=colleague).status_code == 200
    )


def test_a_sponsor_link_says_what_became_of_its_petition(client, people):
    client.put(
        f"{API}/councils/kyiv/policy", json={"rejected_public": False}, headers=people.admin()
    )
    rejected, rejected_token = submitted_with_sponsors(client, people, needed=1)
    url = f"{API}/petitions/{rejected}/sponsors"
    client.post(url, json={"token": rejected_token}, headers=people.resident(1))
    client.post(
        f"{API}/petitions/{rejected}/reject",
        json={"reason": "duplicate", "explanation": "Така вже є."},
        headers=people.moderator(),
    )
    seen = client.get(f"{API}/petitions/{rejected}/sponsorship?token={rejected_token}").json
    # The link still names the petition; why it was rejected stays with the council.
    assert seen["petition"]["state"] == "rejected" and seen["petition"]["title"]
    assert seen["petition"]["rejection_reason"] is None
    assert seen["petition"]["rejection_explanation"] is None
    author = client.get(
        f"{API}/petitions/{rejected}/sponsorship", headers=people.resident(100)
    ).json
    assert author["petition"]["rejection_reason"] == "duplicate"

    taken, token = submitted_with_sponsors(client, people, needed=1)
    client.post(
        f"{API}/petitions/{taken}/sponsors", json={"token": token}, headers=people.resident(1)
    )
    assert (
        client.post(f"{API}/petitions/{taken}/approve", headers=people.moderator()).json["state"]
        == "open"
    )
    opened = client.get(f"{API}/petitions/{taken}/sponsorship?token={token}").json
    assert opened["petition"]["state"] == "open" and opened["petition"]["text"] == TEXT
    client.post(
        f"{API}/petitions/{taken}/take-down",
        json={"reason": "Порушує правила"},
        headers=people.moderator(),
    )
    seen = client.get(f"{API}/petitions/{taken}/sponsorship?token={token}")
    assert seen.status_code == 200 and seen.json["petition"]["hidden"] is True
    assert seen.json["petition"]["title"] is None and seen.json["petition"]["text"] is None
    assert TEXT not in seen.text
    backing = client.post(
        f"{API}/petitions/{taken}/sponsors", json={"token": token}, headers=people.resident(7)
    )
    assert backing.status_code == 409 and backing.json["type"].endswith(":wrong-state")


def test_yours_is_never_served_to_anyone_else_from_a_cache_or_the_memo(client, people):
    """A public read is memoised per process and may be kept by an HTTP cache in front: the
    author's answer (`yours: true`) is private and kept by neither, the public answer says
    `yours: false` to everyone, and it varies with Authorization so that a cache never
    hands the anonymous answer to a signed-in reader as theirs, nor theirs to anyone."""
    petition_id = open_petition(client, people)
    author = people.resident(100)
    for url in (f"{API}/petitions/{petition_id}", f"{API}/petitions?council=kyiv"):
        own = client.get(url, headers=author)
        assert own.status_code == 200
        assert "private" in own.headers["Cache-Control"]
        assert "no-store" in own.headers["Cache-Control"]
        assert "ETag" not in own.headers
        for anyone in (client.get(url), client.get(url, headers={"If-None-Match": "*"})):
            assert anyone.status_code in (200, 304)
            assert "public" in anyone.headers["Cache-Control"]
            assert "Authorization" in anyone.headers.get("Vary", "")
        stranger = client.get(url).json
        shown = [stranger] if "id" in stranger else stranger["petitions"]
        assert shown and not any(p["yours"] or p["you_sponsored"] for p in shown)
        # The memo, filled by the anonymous reads just now, is not what the author gets.
        again = client.get(url, headers=author).json
        shown = [again] if "id" in again else again["petitions"]
        assert [p["yours"] for p in shown if p["id"] == petition_id] == [True]
        other = client.get(url, headers=people.resident(3)).json
        shown = [other] if "id" in other else other["petitions"]
        assert not any(p["yours"] for p in shown)


def test_a_sponsor_link_of_a_taken_down_petition_shows_none_of_its_words(
    client, people, petitions_app
):
    """The council's answer to a petition taken down since quotes and names what it was
    taken down for: a sponsor link's holder reads it no more than its title and text."""
    from services.petitions.models import Petition, Response, db

    taken, token = submitted_with_sponsors(client, people, needed=1)
    client.post(
        f"{API}/petitions/{taken}/sponsors", json={"token": token}, headers=people.resident(1)
    )
    approved = client.post(f"{API}/petitions/{taken}/approve", headers=people.moderator())
    assert approved.status_code == 200
    with petitions_app.app_context():
        db.session.get(Petition, taken).state = "answered"
        db.session.add(
            Response(
                petition_id=taken,
                text="Рада відповідає на петицію про сквер.",
                decision="supported",
                published_by="m1",
            )
        )
        db.session.commit()
    seen = client.get(f"{API}/petitions/{taken}/sponsorship?token={token}").json
    assert seen["petition"]["response"]["text"]  # published: anyone reads it
    client.post(
        f"{API}/petitions/{taken}/take-down",
        json={"reason": "Порушує правила"},
        headers=people.moderator(),
    )
    seen = client.get(f"{API}/petitions/{taken}/sponsorship?token={token}")
    assert seen.status_code == 200 and seen.json["petition"]["hidden"] is True
    assert seen.json["petition"]["response"] is None and "сквер" not in seen.text.lower()
    author = client.get(f"{API}/petitions/{taken}/sponsorship", headers=people.resident(100))
    assert author.json["petition"]["response"]["text"]  # its author still reads all
