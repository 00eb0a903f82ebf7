"""Finding petitions: sorts and keyset pages, similar titles, the rejected list; and
a signer's withdrawal and the moderators' CSV of signers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import update

from services.common.caching import forget_public_reads
from services.common.timeutil import utcnow
from services.petitions.counts import reconcile_counts
from services.petitions.models import Petition, PetitionCount, Response
from services.petitions.models import db as petitions_db
from tests.petitions.conftest import add_signers, open_petition, rejected_petition
from tests.petitions.test_lifecycle import _settled
from tests.support.statements import statements_run

API = "/api/petitions"
pytestmark = pytest.mark.usefixtures("councils")


def sign(client, people, petition_id, n, **claims):
    response = client.post(
        f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(n, **claims)
    )
    assert response.status_code == 201, response.json
    return response


def fold(petitions_app):
    from services.petitions.counts import fold_new_signatures

    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
        petitions_db.session.remove()


def all_pages(client, **query) -> list[int]:
    seen, cursor = [], None
    while True:
        params = {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/petitions", query_string=params)
        assert page.status_code == 200, page.json
        seen += [p["id"] for p in page.json["petitions"]]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return seen


def test_sorts_page_through_every_petition_once(client, people, petitions_app):
    titles = [
        "Ремонт школи номер три",
        "Новий парк біля річки",
        "Велодоріжка на Хрещатику",
        "Ліхтарі у сквері",
        "Питна вода в селі",
    ]
    ids = [open_petition(client, people, title=t) for t in titles]
    for n in range(3):
        sign(client, people, ids[1], n + 1)
    sign(client, people, ids[3], 10)
    fold(petitions_app)
    with petitions_app.app_context():  # deadlines a day apart, the first one soonest
        for days, petition_id in enumerate(ids):
            petitions_db.session.execute(
                update(Petition)
                .where(Petition.id == petition_id)
                .values(deadline_at=utcnow() + timedelta(days=days + 1))
            )
        petitions_db.session.commit()
        petitions_db.session.remove()

    assert all_pages(client) == sorted(ids, reverse=True)
    most_signed = all_pages(client, sort="most_signed")
    assert most_signed[:2] == [ids[1], ids[3]] and sorted(most_signed) == sorted(ids)
    assert all_pages(client, sort="closing_soon") == ids
    counts = client.get(f"{API}/petitions", query_string={"sort": "most_signed"}).json
    assert [p["signatures"] for p in counts["petitions"]][:2] == [3, 1]


def test_a_forged_cursor_is_a_clear_422(client, people):
    open_petition(client, people)
    for cursor in ("nonsense", "W1swXV0", "eyJhIjogMX0"):
        response = client.get(
            f"{API}/petitions", query_string={"cursor": cursor, "sort": "most_signed"}
        )
        assert response.status_code == 422 and "cursor" in response.json["errors"], cursor
    assert client.get(f"{API}/petitions?sort=random").status_code == 422


def test_similar_titles_are_suggested_before_filing(client, people):
    lights = open_petition(client, people, title="Ліхтарі на вулиці Шевченка")
    open_petition(client, people, title="Ремонт дороги на вулиці Садовій")
    open_petition(client, people, council="oliivka", title="Ліхтарі на вулиці Шевченка")
    found = client.get(
        f"{API}/petitions/similar",
        query_string={"council": "kyiv", "title": "ліхтарі біля школи на Шевченка"},
    )
    assert found.status_code == 200
    assert found.json["petitions"][0]["id"] == lights
    assert all(p["council"] == "kyiv" for p in found.json["petitions"])
    assert client.get(f"{API}/petitions/similar?council=kyiv").status_code == 422


@pytest.mark.parametrize(
    "existing, asked",
    [
        ("Ліхтарі на вулиці Шевченка", "Немає ліхтарів біля школи"),  # another case
        ("Новий парк", "Освітлення парку"),  # a four-letter word and its form
        ("Освітлення парку", "Новий парк"),
        ("Játszótér a Petőfi utcában", "Új játszóteret kérünk"),  # suffixes appended
        ("Yolların onarımı", "Yolları onarın"),
    ],
    ids=["uk-case", "uk-short-word", "uk-short-word-asked-longer", "hu-suffix", "tr-suffix"],
)
def test_similar_titles_match_other_forms_of_a_word(client, people, existing, asked):
    wanted = open_petition(client, people, title=existing)
    open_petition(client, people, title="Сміттєві баки у дворі")
    found = client.get(
        f"{API}/petitions/similar", query_string={"council": "kyiv", "title": asked}
    ).json["petitions"]
    assert [p["id"] for p in found] == [wanted]


def test_search_finds_every_word_in_any_form_and_case(client, people):
    # Both texts are conftest's TEXT (lights on Shevchenka street, dark and unsafe).
    lights = open_petition(client, people, title="Ліхтарі на вулиці Шевченка")
    road = open_petition(client, people, title="Ремонт дороги на вулиці Садовій")

    def search(q: str) -> list[int]:
        response = client.get(f"{API}/petitions", query_string={"q": q})
        assert response.status_code == 200, response.json
        return sorted(p["id"] for p in response.json["petitions"])

    assert search("ремонт") == [road]  # typed lower, written capitalised
    assert search("ремонту") == [road]  # another case of the word
    assert search("садовій дороги") == [road]  # any order
    assert search("небезпечно ремонт") == [road]  # the text counts too
    assert search("вулиці") == sorted([lights, road])
    assert search("ремонт школи") == []  # every word must be there
    assert search("?!") == []  # no words: nothing has them
    assert search("100%_") == []  # LIKE's wildcards are only text


def test_every_rejected_petition_is_listed_newest_first_a_page_at_a_time(client, people):
    ids = [
        rejected_petition(client, people, f"Відхилена {n}", "duplicate", "Така вже є.")
        for n in range(53)
    ]
    first = client.get(f"{API}/councils/kyiv/rejected").json
    assert [p["id"] for p in first["petitions"]] == ids[::-1][:50] and first["next_cursor"]
    rest = client.get(f"{API}/councils/kyiv/rejected?cursor={first['next_cursor']}").json
    assert [p["id"] for p in rest["petitions"]] == ids[::-1][50:] and rest["next_cursor"] is None


def test_the_rejected_list_follows_the_council_setting(client, people):
    author = people.resident(100)
    petition_id = rejected_petition(
        client, people, "Заборонити все", "unclear-request", "Незрозуміло, що саме просять."
    )
    listed = client.get(f"{API}/councils/kyiv/rejected").json["petitions"]
    assert [(p["id"], p["rejection_reason"]) for p in listed] == [(petition_id, "unclear-request")]
    page = f"{API}/petitions/{petition_id}"
    similar = f"{API}/petitions/similar?council=kyiv&title=Заборонити все"
    assert client.get(page).status_code == 200
    assert [p["id"] for p in client.get(similar).json["petitions"]] == [petition_id]
    client.put(
        f"{API}/councils/kyiv/policy", json={"rejected_public": False}, headers=people.admin()
    )
    assert client.get(f"{API}/councils/kyiv/rejected").status_code == 403
    # Nor anywhere else, but to its author and the council's moderators.
    assert client.get(page).status_code == 404
    assert client.get(f"{API}/petitions?council=kyiv&state=rejected").json["petitions"] == []
    assert client.get(f"{API}/petitions?q=Заборонити").json["petitions"] == []
    assert client.get(similar).json["petitions"] == []
    assert client.get(page, headers=author).status_code == 200
    assert client.get(page, headers=people.moderator()).status_code == 200


def test_a_resident_can_ask_whether_they_signed(client, people):
    petition_id = open_petition(client, people)
    receipt = sign(client, people, petition_id, 1).json["receipt"]
    mine = f"{API}/petitions/{petition_id}/signatures/mine"
    own = client.get(mine, headers=people.resident(1))
    assert own.status_code == 200 and own.json["receipt"] == receipt and own.json["counted"]
    assert own.json["signed_at"]
    assert "public" not in own.headers.get("Cache-Control", "")  # a person's own
    assert client.get(mine, headers=people.resident(2)).status_code == 404
    assert client.get(mine).status_code == 401
    assert (
        client.get(
            f"{API}/petitions/999999/signatures/mine", headers=people.resident(1)
        ).status_code
        == 404
    )


def test_withdrawal_is_off_unless_the_council_allows_it(client, people, petitions_app):
    petition_id = open_petition(client, people)
    sign(client, people, petition_id, 1)
    mine = f"{API}/petitions/{petition_id}/signatures/mine"
    refused = client.delete(mine, headers=people.resident(1))
    assert refused.status_code == 403
    client.put(
        f"{API}/councils/kyiv/policy", json={"allow_withdrawal": True}, headers=people.admin()
    )

    sign(client, people, petition_id, 2)
    fold(petitions_app)  # resident 1 and 2 counted
    sign(client, people, petition_id, 3)  # resident 3 not folded yet
    assert client.delete(mine, headers=people.resident(1)).status_code == 204
    assert client.delete(mine, headers=people.resident(3)).status_code == 204
    assert client.delete(mine, headers=people.resident(3)).status_code == 404
    assert client.delete(mine, headers=people.resident(4)).status_code == 404
    fold(petitions_app)
    count = client.get(f"{API}/petitions/{petition_id}").json["signatures"]
    assert count == 1
    sign(client, people, petition_id, 1)  # and may sign again
    fold(petitions_app)
    assert client.get(f"{API}/petitions/{petition_id}").json["signatures"] == 2
    with petitions_app.app_context():
        assert reconcile_counts(petitions_db.session) == 0  # the count agrees with the rows
        petitions_db.session.remove()


def test_a_signature_set_aside_cannot_be_withdrawn_and_signed_afresh(client, people, petitions_app):
    client.put(
        f"{API}/councils/kyiv/policy", json={"allow_withdrawal": True}, headers=people.admin()
    )
    petition_id = open_petition(client, people)
    for n in (1, 2):
        sign(client, people, petition_id, n)
    fold(petitions_app)
    set_aside = client.post(
        f"{API}/petitions/{petition_id}/invalidations",
        json={"reason": "Підпис за іншу особу", "user_id": "r1"},
        headers=people.moderator(),
    )
    assert set_aside.status_code == 201 and set_aside.json["signatures"] == 1
    mine = f"{API}/petitions/{petition_id}/signatures/mine"
    assert client.delete(mine, headers=people.resident(1)).status_code == 403
    again = client.post(
        f"{API}/petitions/{petition_id}/signatures", json={}, headers=people.resident(1)
    )
    assert again.status_code == 409
    fold(petitions_app)
    assert client.get(f"{API}/petitions/{petition_id}").json["signatures"] == 1
    with petitions_app.app_context():
        assert reconcile_counts(petitions_db.session) == 0
        petitions_db.session.remove()


def test_the_signers_csv_is_for_moderators_and_runs_no_formulas(client, people):
    petition_id = open_petition(client, people)
    sign(client, people, petition_id, 1, name='=HYPERLINK("http://evil","x")')
    sign(client, people, petition_id, 2, name="Олена Коваль")
    sign(client, people, petition_id, 3, name="Olena Koval;=HYPERLINK(CHAR(104)&A2);")
    url = f"{API}/petitions/{petition_id}/signers.csv"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=people.resident(5)).status_code == 403
    assert client.get(url, headers=people.moderator("oliivka")).status_code == 403
    response = client.get(url, headers=people.moderator("kyiv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
        "Name",
        "Signed at (UTC)",
        "Receipt",
        "Set aside by invalidation",
        "Account number",
    ]
    assert [row[4] for row in rows[1:]] == ["r1", "r2", "r3"]  # what setting one aside asks
    assert rows[1][0] == '\'=HYPERLINK("http://evil","x")' and rows[2][0] == "Олена Коваль"
    # Excel in Ukrainian, Russian, Turkish or Hungarian splits on ";", keeping quoted
    # cells whole: no cell of the file then starts a formula either.
    text = response.get_data(as_text=True)
    cells = [cell for row in csv.reader(io.StringIO(text), delimiter=";") for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
    hungarian = client.get(url, headers={**people.moderator("kyiv"), "Accept-Language": "hu"})
    assert next(csv.reader(io.StringIO(hungarian.get_data(as_text=True))))[:2] == [
        "Név",
        "Aláírás ideje (UTC)",
    ]


def test_a_long_signers_csv_is_written_as_it_is_read(client, people, petitions_app):
    """Thousands of signers come out whole, in order, a chunk at a time (never the whole
    file in memory)."""
    petition_id = open_petition(client, people)
    add_signers(petitions_app, petition_id, 2501)
    response = client.get(
        f"{API}/petitions/{petition_id}/signers.csv", headers=people.moderator("kyiv")
    )
    assert response.status_code == 200 and response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2502 and rows[1][0] == "Підписант 1" and rows[-1][0] == "Підписант 2501"
    assert [row[2] for row in rows[1:]] == [f"r{n:023d}" for n in range(1, 2502)]


def _written(petitions_app, state: str, numbers: range) -> None:
    """Petitions of kyiv in `state` written straight to the table, with what lists show:
    every other one counted and late (in moderation); a response where answered."""
    now = utcnow()
    with petitions_app.app_context():
        session = petitions_db.session
        for n in numbers:
            due = now + (timedelta(hours=-1) if n % 2 else timedelta(days=2))
            petition = Petition(
                council="kyiv",
                author_id="100",
                author_name="Автор",
                title=f"Ліхтарі на вулиці {n}",
                text="Просимо встановити ліхтарі на вулиці, бо ввечері там темно.",
                state=state,
                submitted_at=now,
                moderation_due_at=due,
            )
            if state == "rejected":
                petition.rejection_reason = "duplicate"
                petition.rejection_explanation = "Така вже є."
            if state == "answered":
                petition.threshold, petition.opened_at, petition.succeeded_at = 1, now, now
                petition.deadline_at, petition.response_due_at = now + timedelta(days=90), due
            session.add(petition)
            session.flush()
            if n % 2:
                session.add(PetitionCount(petition_id=petition.id, signatures=n))
            if state == "answered":
                session.add(
                    Response(
                        petition_id=petition.id,
                        text=f"Відповідь {n}",
                        decision="supported",
                        published_by="7",
                    )
                )
        session.commit()
        session.remove()


LISTS = {  # the state of the petitions each list shows, its path, and whose list it is
    "moderation queue": ("moderation", "/councils/kyiv/moderation", "moderator"),
    "rejected": ("rejected", "/councils/kyiv/rejected", None),
    "published": ("answered", "/petitions?council=kyiv&limit=50", None),
    "similar titles": ("answered", "/petitions/similar?council=kyiv&title=Ліхтарі на вулиці", None),
}


@pytest.mark.parametrize("name", LISTS)
def test_a_list_reads_its_counts_and_responses_in_one_query_each(
    name, client, people, petitions_app
):
    """The statements a list runs do not grow with its length (not two more a petition:
    its count and its response), and each petition reads as it does alone."""
    state, path, reader = LISTS[name]
    headers = people.moderator("kyiv") if reader else {}
    with petitions_app.app_context():
        engine = petitions_db.engine

    def listed() -> tuple[list[dict], int]:
        client.get(f"{API}{path}", headers=headers)  # what is read once and kept, kept
        forget_public_reads()
        with statements_run(engine) as statements:
            response = client.get(f"{API}{path}", headers=headers)
        assert response.status_code == 200, response.json
        return response.json["petitions"], len(statements)

    _written(petitions_app, state, range(1, 4))
    few, few_statements = listed()
    _written(petitions_app, state, range(4, 31))
    many, many_statements = listed()
    assert len(few) == 3 and len(many) == (5 if name == "similar titles" else 30)
    assert many_statements == few_statements
    assert {p["response"] is not None for p in many} == {state == "answered"}
    assert {p["signatures"] for p in many} > {0}
    if state == "moderation":
        assert {p["overdue"] for p in many} == {True, False}
    for shown in many:
        alone = client.get(f"{API}/petitions/{shown['id']}", headers=headers)
        assert alone.json == shown
