"""One person, one signature; counts exact; reads cacheable."""

from __future__ import annotations

import csv
import io
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.common.timeutil import utcnow
from services.common.tokens import Principal
from services.petitions.counts import fold_new_signatures, reconcile_counts, signature_count
from services.petitions.lifecycle import close_expired
from services.petitions.models import FoldWatermark, Petition, Signature, db
from services.petitions.signing import sign
from tests.conftest import TEST_DB
from tests.petitions.conftest import add_signers, open_petition
from tests.petitions.test_lifecycle import _settled
from tests.support.concurrency import as_processes_at_once, failures, while_row_locked

API = "/api/petitions"


def test_twice_is_409_per_account_and_per_phone(client, people, councils):
    petition_id = open_petition(client, people)
    url = f"{API}/petitions/{petition_id}/signatures"
    assert client.post(url, json={}, headers=people.resident(1)).status_code == 201
    again = client.post(url, json={}, headers=people.resident(1))
    assert again.status_code == 409 and again.json["type"].endswith(":already-signed")
    # Another account with the same verified phone: the same person.
    same_phone = people.resident(2, phone_hash="phone-1")
    assert client.post(url, json={}, headers=same_phone).status_code == 409


def test_one_mailbox_signs_once_where_no_phone_is_asked(client, people, councils, petitions_app):
    """In an email-only council, ann+1@… and ann+2@… (one mailbox, one email hash) are
    one signer, whatever phones their accounts have or lack."""
    client.put(
        f"{API}/councils/kyiv/policy", json={"signer_verification": "email"}, headers=people.admin()
    )
    petition_id = open_petition(client, people)
    url = f"{API}/petitions/{petition_id}/signatures"
    first = people.resident(1, email_hash="ann", phone_verified=False, phone_hash=None)
    assert client.post(url, json={}, headers=first).status_code == 201
    second = people.resident(2, email_hash="ann", phone_verified=False, phone_hash=None)
    again = client.post(url, json={}, headers=second)
    assert again.status_code == 409 and again.json["type"].endswith(":already-signed")
    assert client.post(url, json={}, headers=people.resident(3)).status_code == 201
    with petitions_app.app_context(), _settled():
        fold_new_signatures(db.session)
        assert signature_count(db.session, petition_id) == 2


def test_signing_needs_the_councils_verification(client, people, councils):
    petition_id = open_petition(client, people)
    url = f"{API}/petitions/{petition_id}/signatures"
    assert (
        client.post(url, json={}, headers=people.resident(1, phone_verified=False)).status_code
        == 403
    )
    assert (
        client.post(url, json={}, headers=people.resident(2, email_verified=False)).status_code
        == 403
    )
    assert client.post(url, json={}).status_code == 401
    client.put(
        f"{API}/councils/kyiv/policy", json={"signer_verification": "email"}, headers=people.admin()
    )
    assert (
        client.post(
            url, json={}, headers=people.resident(3, phone_verified=False, phone_hash=None)
        ).status_code
        == 201
    )


def test_public_reads_carry_etags_and_answer_304(client, people, councils):
    petition_id = open_petition(client, people)
    first = client.get(f"{API}/petitions/{petition_id}")
    assert "max-age=5" in first.headers["Cache-Control"]
    cached = client.get(
        f"{API}/petitions/{petition_id}", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert cached.status_code == 304
    listed = client.get(f"{API}/petitions?council=kyiv&state=open")
    assert [p["id"] for p in listed.json["petitions"]] == [petition_id]
    assert client.get(
        f"{API}/petitions", headers={"If-None-Match": listed.headers["ETag"]}
    ).status_code in (200, 304)


def test_signer_names_only_where_public(client, people, councils):
    petition_id = open_petition(client, people)
    client.post(f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(7))
    assert client.get(f"{API}/petitions/{petition_id}/signers").json == {
        "signers": ["Resident 7"],
        "next_cursor": None,
    }
    client.put(
        f"{API}/councils/kyiv/policy", json={"signer_names_public": False}, headers=people.admin()
    )
    assert client.get(f"{API}/petitions/{petition_id}/signers").status_code == 403


def test_every_signer_is_listed_a_thousand_at_a_time(client, people, councils, petitions_app):
    """Where the law publishes the list of signers, it is the whole list, page by page."""
    petition_id = open_petition(client, people)
    add_signers(petitions_app, petition_id, 1502)
    first = client.get(f"{API}/petitions/{petition_id}/signers").json
    assert first["signers"][:2] == ["Підписант 1", "Підписант 2"] and len(first["signers"]) == 1000
    rest = client.get(f"{API}/petitions/{petition_id}/signers?cursor={first['next_cursor']}").json
    assert rest["signers"][0] == "Підписант 1001" and rest["signers"][-1] == "Підписант 1502"
    assert rest["next_cursor"] is None
    bad = client.get(f"{API}/petitions/{petition_id}/signers?cursor=not-a-cursor")
    assert bad.status_code == 422 and "cursor" in bad.json["errors"]
    # The petition's page shows the first thousand and leads on to the rest.
    page = client.get(f"/petitions/{petition_id}?lang=uk").get_data(as_text=True)
    assert "Підписант 1001" not in page
    assert "Підписант 999, Підписант 1000</p>" in page
    more = page.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert ">Інші підписанти</a>" in page
    rest_page = client.get(more + "&lang=uk").get_data(as_text=True)
    assert "Підписант 1001, Підписант 1002" in rest_page and 'rel="next"' not in rest_page
    client.put(
        f"{API}/councils/kyiv/policy", json={"signer_names_public": False}, headers=people.admin()
    )
    hidden = client.get(more + "&lang=uk")
    assert hidden.status_code == 403 and "Підписант" not in hidden.get_data(as_text=True)


def test_a_petitions_signatures_are_read_apart_from_its_neighbours(
    client, people, councils, petitions_app
):
    """The signer pages, the moderators' CSV and the moment the threshold was reached
    read the petition's own signatures in order, with the petitions filed before and
    after it signed before and after it (they read the index on (petition_id, id))."""
    earlier, petition_id, later = (
        open_petition(client, people, title=f"Ліхтарі на вулиці {n}") for n in range(3)
    )
    add_signers(petitions_app, later, 3, first=3001)
    add_signers(petitions_app, petition_id, 1502)
    add_signers(petitions_app, earlier, 3, first=2001)
    first = client.get(f"{API}/petitions/{petition_id}/signers").json
    rest = client.get(f"{API}/petitions/{petition_id}/signers?cursor={first['next_cursor']}").json
    names = [f"Підписант {n}" for n in range(1, 1503)]
    assert first["signers"] + rest["signers"] == names and rest["next_cursor"] is None
    for neighbour, numbers in ((earlier, range(2001, 2004)), (later, range(3001, 3004))):
        listed = client.get(f"{API}/petitions/{neighbour}/signers").json["signers"]
        assert listed == [f"Підписант {n}" for n in numbers]
    csv_file = client.get(
        f"{API}/petitions/{petition_id}/signers.csv", headers=people.moderator("kyiv")
    ).get_data(as_text=True)
    assert [row[0] for row in csv.reader(io.StringIO(csv_file))][1:] == names
    with petitions_app.app_context():
        db.session.execute(
            update(Petition)
            .where(Petition.id == petition_id)
            .values(threshold=1200, deadline_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
        assert close_expired(db.session) == 1
        reached_at = db.session.scalar(
            select(Signature.created_at).where(Signature.receipt == f"r{1200:023d}")
        )
        db.session.remove()
    judged = client.get(f"{API}/petitions/{petition_id}").json
    assert judged["state"] == "successful"
    assert datetime.fromisoformat(judged["succeeded_at"]) == reached_at


def test_reconciliation_repairs_a_drifted_count(client, people, councils, petitions_app):
    petition_id = open_petition(client, people)
    for n in range(3):
        client.post(
            f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(n)
        )
    with petitions_app.app_context(), _settled():
        fold_new_signatures(db.session)
        from services.petitions.counts import _add

        _add(db.session, petition_id, 40)  # drift
        db.session.commit()
        assert signature_count(db.session, petition_id) == 43
        assert reconcile_counts(db.session) == 1
        assert signature_count(db.session, petition_id) == 3


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent signing needs a server database")
def test_many_threads_sign_and_the_count_is_exact(client, people, councils, petitions_app):
    petition_id = open_petition(client, people, threshold=1000)
    with petitions_app.app_context():
        engine = db.engine
    start = threading.Barrier(8)
    receipts: list[str] = []
    duplicates = []

    def signer(worker: int):
        start.wait()
        for n in range(25):
            person = Principal(
                user_id=f"t{worker}-{n}",
                email_verified=True,
                phone_verified=True,
                phone_hash=f"h{worker}-{n}",
                name="Thread",
            )
            with petitions_app.test_request_context("/"), Session(engine) as session:
                receipts.append(sign(session, person, petition_id))
                try:  # the same person again must fail, whatever the timing
                    sign(session, person, petition_id)
                except Exception as exc:
                    duplicates.append(type(exc).__name__)

    threads = [threading.Thread(target=signer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receipts) == 200 and len(set(receipts)) == 200
    assert duplicates == ["AlreadySigned"] * 200
    with petitions_app.app_context(), _settled():
        fold_new_signatures(db.session)
        assert signature_count(db.session, petition_id) == 200
        assert reconcile_counts(db.session) == 0


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent folds need a server database")
def test_two_first_folds_at_once_count_every_signature_once(
    client, people, councils, petitions_app
):
    """A new installation: the stream's watermark does not exist yet, and two processes
    fold for the first time at the same moment. Both finish; every signature counts once."""
    petition_id = open_petition(client, people)
    for n in range(5):
        client.post(
            f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(n)
        )
    with petitions_app.app_context():
        db.session.execute(delete(FoldWatermark))
        db.session.commit()
    with _settled():
        folded = as_processes_at_once(petitions_app, fold_new_signatures)
    assert failures(folded) == [] and sum(folded) == 5
    with petitions_app.app_context():
        assert signature_count(db.session, petition_id) == 5


@pytest.mark.skipif(TEST_DB != "postgres", reason="row locks need a server database")
def test_a_fold_with_nothing_new_neither_locks_nor_waits(client, people, councils, petitions_app):
    """Every process folds twice a second: with nothing new it reads without the
    watermark's lock, so an idle service does almost nothing and no fold queues."""
    petition_id = open_petition(client, people)
    client.post(f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(0))
    with petitions_app.app_context(), _settled():
        assert fold_new_signatures(db.session) == 1
    locked = select(FoldWatermark).with_for_update()
    assert while_row_locked(petitions_app, locked, fold_new_signatures) == [0]
