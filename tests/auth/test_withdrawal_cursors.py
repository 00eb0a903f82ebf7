"""The withdrawn access tokens are read whole once, then only what changed: every process
of every service asks auth with the cursor of its last answer, merges the changes in,
drops what has expired, and reads whole again when auth cannot follow its cursor."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.auth.keys import (
    WITHDRAWALS_KEPT,
    access_withdrawals,
    withdraw_access_tokens,
    withdraw_session,
)
from services.auth.models import SessionWithdrawal, db
from services.common import tokens
from services.common.client import ServiceUnavailable
from services.common.timeutil import utcnow
from services.common.tokens import CursorRefused, Withdrawals, fetch_withdrawals_from_auth
from tests.auth.helpers import PASSWORD, bearer, confirmed_resident, login
from tests.conftest import TEST_DB

PATH = "/internal/access-withdrawals"
PROBLEM = "application/problem+json"


class FromAuth:
    """fetch_withdrawals_from_auth as polls calls it (in-process, through auth's HTTP
    endpoint), remembering each cursor it sent and each answer."""

    def __init__(self, app) -> None:
        self.app = app
        self.asked: list[str | None] = []
        self.answers: list[dict] = []

    def __call__(self, since: str | None = None) -> dict:
        with self.app.app_context():
            answer = fetch_withdrawals_from_auth(since)
        self.asked.append(since)
        self.answers.append(answer)
        return answer


def reader(fetch) -> Withdrawals:
    """Withdrawals that read only when told to (`read`)."""
    return Withdrawals(fetch, every_seconds=math.inf)


def read(withdrawals: Withdrawals) -> None:
    withdrawals._read()


def old_token(user: str = "1", sid: str | None = None) -> dict:
    """Claims of a token issued a minute ago (before any withdrawal of the test)."""
    claims = {"sub": user, "iat": time.time() - 60}
    return claims if sid is None else {**claims, "sid": sid}


def taken_back(withdrawals: Withdrawals, user: str = "0", sid: str | None = None) -> bool:
    """Whether an old token of `user` (in session `sid`) is refused by the lists read."""
    return withdrawals.withdrawn(old_token(user, sid))


def write(auth_app, *changes) -> None:
    """Withdraw in one committed transaction: ("user", id) or ("session", sid)."""
    with auth_app.app_context():
        for kind, what in changes:
            if kind == "user":
                withdraw_access_tokens(db.session, what)
            else:
                withdraw_session(db.session, what, utcnow())
        db.session.commit()


def internal(auth_app) -> dict:
    return {
        "X-Viche-Internal-Token": auth_app.config["INTERNAL_TOKEN"],
        "X-Viche-Service": "polls",
    }


def test_a_later_read_brings_only_what_changed_and_a_withdrawal_made_after_the_first(
    auth_app, polls_app
):
    write(auth_app, ("user", 1), ("session", "before"))
    fetch = FromAuth(polls_app)
    withdrawals = reader(fetch)
    read(withdrawals)
    assert taken_back(withdrawals, "1") and taken_back(withdrawals, sid="before")
    assert fetch.asked == [None] and fetch.answers[0]["full"] is True
    assert fetch.answers[0]["sessions"] == ["before"]  # as services from before cursors read

    write(auth_app, ("user", 2), ("session", "after"))
    read(withdrawals)
    assert taken_back(withdrawals, "2") and taken_back(withdrawals, sid="after")
    assert taken_back(withdrawals, "1") and taken_back(withdrawals, sid="before")  # still
    assert not taken_back(withdrawals, "3") and not taken_back(withdrawals, sid="other")
    changes = fetch.answers[1]
    assert fetch.asked[1] == fetch.answers[0]["cursor"]
    assert changes["full"] is False and "sessions" not in changes
    # On PostgreSQL, what was read while some transaction of the cluster was running may
    # come again (an overlap, merged without harm): the first read's entries at most.
    assert {"2"} <= {entry["user_id"] for entry in changes["withdrawals"]} <= {"1", "2"}
    assert {"after"} <= {entry["sid"] for entry in changes["signed_out"]} <= {"before", "after"}

    held = withdrawals._lists
    read(withdrawals)
    assert fetch.asked[2] == changes["cursor"]
    assert {entry["sid"] for entry in fetch.answers[2]["signed_out"]} <= {"before", "after"}
    assert withdrawals._lists is held  # nothing new: nothing copied


def test_the_merged_lists_equal_a_whole_read(client, auth_app, polls_app):
    fetch = FromAuth(polls_app)
    withdrawals = reader(fetch)
    read(withdrawals)
    pair = confirmed_resident(client, auth_app)
    elsewhere = login(client).json
    user = client.get("/api/auth/me", headers=bearer(pair)).json["id"]
    write(auth_app, ("user", 7), ("session", "s1"))
    read(withdrawals)
    write(auth_app, ("user", 7))  # later: it replaces the first
    with auth_app.app_context():  # the same session signed out again, renewed meanwhile
        withdraw_session(db.session, "s1", utcnow() + timedelta(minutes=1))
        db.session.commit()
    client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    read(withdrawals)
    changed = client.post(
        "/api/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        headers=bearer(elsewhere),
    )
    assert changed.status_code == 200, changed.json  # withdraws the person's tokens
    write(auth_app, ("user", 8), ("session", "s2"))
    read(withdrawals)

    whole = reader(FromAuth(polls_app))
    read(whole)
    assert fetch.asked[1:] == [answer["cursor"] for answer in fetch.answers[:-1]]
    assert all(answer["full"] is False for answer in fetch.answers[1:])
    assert withdrawals._lists == whole._lists
    people, sessions = whole._lists
    assert set(people) == {"7", "8", str(user)} and len(sessions) == 3  # s1, s2, the logout
    assert sessions["s1"] > time.time() + WITHDRAWALS_KEPT.total_seconds()  # the later


def test_what_has_expired_leaves_the_lists(monkeypatch):
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(
        tokens, "time", SimpleNamespace(time=lambda: clock.now, monotonic=time.monotonic)
    )
    fetch, _ = scripted(
        {
            "cursor": "r1.2",
            "full": True,
            "withdrawals": [{"user_id": "7", "at": 990.0, "until": 2000.0}],
            "signed_out": [{"sid": "a", "until": 1500.0}, {"sid": "b", "until": 3000.0}],
            "sessions": ["a", "b"],
        },
        {"cursor": "r1.2", "full": False, "withdrawals": [], "signed_out": []},
        {"cursor": "r2.2", "full": False, "withdrawals": [], "signed_out": []},
        {
            "cursor": "r3.2",
            "full": False,
            "withdrawals": [{"user_id": "8", "at": 2400.0, "until": 3400.0}],
            "signed_out": [],
        },
    )
    withdrawals = reader(fetch)
    read(withdrawals)
    assert withdrawals._lists == ({"7": (990.0, 2000.0)}, {"a": 1500.0, "b": 3000.0})
    clock.now = 1600.0
    read(withdrawals)
    assert withdrawals._lists == ({"7": (990.0, 2000.0)}, {"b": 3000.0})
    clock.now = 2500.0
    read(withdrawals)
    assert withdrawals._lists == ({}, {"b": 3000.0})
    clock.now = 3200.0
    read(withdrawals)
    assert withdrawals._lists == ({"8": (2400.0, 3400.0)}, {})


def test_auth_answers_nothing_that_has_expired(auth_app, polls_app):
    fetch = FromAuth(polls_app)
    withdrawals = reader(fetch)
    read(withdrawals)
    with auth_app.app_context():
        now = utcnow()
        withdraw_session(db.session, "spent", now - WITHDRAWALS_KEPT - timedelta(seconds=1))
        withdraw_session(db.session, "live", now - WITHDRAWALS_KEPT + timedelta(minutes=1))
        db.session.commit()
    read(withdrawals)
    assert taken_back(withdrawals, sid="live") and not taken_back(withdrawals, sid="spent")
    assert [entry["sid"] for entry in fetch.answers[1]["signed_out"]] == ["live"]


@pytest.mark.skipif(TEST_DB != "postgres", reason="two writers at once need a server database")
def test_a_row_that_commits_behind_the_cursor_is_not_missed(auth_app, polls_app):
    """PostgreSQL: a transaction takes its id, another takes the next and commits first,
    a service reads; then the first commits. Its row lies behind what the reader saw, by
    id and by time, and the next read still brings it."""
    with auth_app.app_context():
        engine = db.engine
    fetch = FromAuth(polls_app)
    withdrawals = reader(fetch)
    with Session(engine) as early, Session(engine) as late:
        withdraw_session(early, "early", utcnow())
        early.flush()  # its row and id taken, not committed
        withdraw_session(late, "late", utcnow())
        late.commit()
        read(withdrawals)
        assert taken_back(withdrawals, sid="late") and not taken_back(withdrawals, sid="early")
        early.commit()
        ids = dict(early.execute(select(SessionWithdrawal.sid, SessionWithdrawal.id)).all())
    assert ids["early"] < ids["late"]  # behind, by id
    read(withdrawals)
    assert taken_back(withdrawals, sid="early")
    assert fetch.answers[-1]["full"] is False
    # "late" comes again: it was read while "early" was running.
    assert {entry["sid"] for entry in fetch.answers[-1]["signed_out"]} == {"early", "late"}


def test_a_read_in_a_transaction_that_has_written_takes_its_own_rows_again(auth_app):
    """Auth reads its own list in the request's transaction, which may have written: its
    row, not committed yet, may still be rolled back or committed, so the cursor it is
    given lies before it (PostgreSQL's snapshot leaves the reader's own transaction out;
    on SQLite the cursor starts over)."""
    with auth_app.app_context():
        withdraw_session(db.session, "mine", utcnow())
        db.session.flush()
        answer = access_withdrawals(db.session)
        db.session.commit()
        again = access_withdrawals(db.session, answer["cursor"])
    assert again["full"] is False
    assert [entry["sid"] for entry in again["signed_out"]] == ["mine"]


def test_an_id_freed_by_tidying_is_not_handed_out_again(auth_app, polls_app):
    """The newest row expires and is tidied away just before the next sign-out: a new
    row with the freed id would lie behind the cursor (SQLite hands out the highest id
    plus one, unless the table is AUTOINCREMENT)."""
    write(auth_app, ("session", "short"))
    fetch = FromAuth(polls_app)
    withdrawals = reader(fetch)
    read(withdrawals)
    assert taken_back(withdrawals, sid="short")
    with auth_app.app_context():
        db.session.execute(
            SessionWithdrawal.__table__.update().values(until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    write(auth_app, ("session", "next"))  # tidies "short" away first
    with auth_app.app_context():
        assert db.session.scalars(select(SessionWithdrawal.sid)).all() == ["next"]
    read(withdrawals)
    assert taken_back(withdrawals, sid="next")
    assert fetch.answers[-1]["full"] is False


def test_a_cursor_this_database_did_not_give_is_answered_with_the_whole_list(auth_app):
    write(auth_app, ("user", 3), ("session", "s"))
    with auth_app.app_context():
        given = access_withdrawals(db.session)["cursor"]
        number = int(given[1:].split(".")[0])
        other_kind = "r1.1" if given.startswith("x") else "x1"
        ahead = f"x{number + 1000}" if given.startswith("x") else f"r{number + 1000}.0"
        for cursor in (other_kind, ahead, "x9999999999999999999"):
            answer = access_withdrawals(db.session, cursor)
            assert answer["full"] is True, cursor
            assert answer["sessions"] == ["s"] and len(answer["withdrawals"]) == 1
        assert access_withdrawals(db.session, given)["full"] is False


def test_a_bad_cursor_is_a_problem_and_outsiders_learn_nothing(auth_app, polls_app):
    app = auth_app.test_client()
    for bad in ("x", "x1.2", "r1", "y1", "x-1", "x1\n", "x\u0661", "x" + "9" * 20, "r1.2; --"):
        answer = app.get(PATH, query_string={"since": bad}, headers=internal(auth_app))
        assert answer.status_code == 422, bad
        assert answer.mimetype == PROBLEM and "since" in answer.json["errors"]
        outsider = app.get(PATH, query_string={"since": bad})
        assert outsider.status_code == 403 and outsider.mimetype == PROBLEM
    assert app.get(PATH, query_string={"since": "x1"}).status_code == 403
    with auth_app.app_context(), pytest.raises(ValueError):
        access_withdrawals(db.session, "x1'")
    with polls_app.app_context(), pytest.raises(CursorRefused):
        fetch_withdrawals_from_auth("not a cursor")


def scripted(*answers):
    """A fetch that answers in turn (an exception is raised), noting each cursor."""
    asked: list[str | None] = []
    queue = list(answers)

    def fetch(since: str | None = None) -> dict:
        asked.append(since)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return fetch, asked


def dated(cursor, *, full, users=(), sessions=()) -> dict:
    """An answer of an auth with cursors: users and sessions listed until far ahead."""
    until = time.time() + 600
    answer = {
        "cursor": cursor,
        "full": full,
        "withdrawals": [{"user_id": u, "at": time.time(), "until": until} for u in users],
        "signed_out": [{"sid": s, "until": until} for s in sessions],
    }
    return {**answer, "sessions": list(sessions)} if full else answer


def test_a_whole_answer_to_a_cursor_replaces_what_was_held():
    fetch, asked = scripted(
        dated("x10", full=True, users=["7"], sessions=["a"]),
        dated("x12", full=False, sessions=["b"]),
        dated("x3", full=True, sessions=["b"]),  # a restored database: a stays out
    )
    withdrawals = reader(fetch)
    for _ in range(3):
        read(withdrawals)
    assert asked == [None, "x10", "x12"]
    assert withdrawals._lists[0] == {} and set(withdrawals._lists[1]) == {"b"}


def test_an_auth_upgraded_or_downgraded_is_read_whole():
    old = {"withdrawals": [{"user_id": "7", "at": time.time()}], "sessions": ["a"]}
    fetch, asked = scripted(
        old,  # from before cursors
        dated("x10", full=True, sessions=["b"]),  # upgraded: asked without a cursor still
        dated("x11", full=False, sessions=["c"]),
        old,  # downgraded: it does not read `since`, and answers whole
        old,
    )
    withdrawals = reader(fetch)
    read(withdrawals)
    assert taken_back(withdrawals, "7") and taken_back(withdrawals, sid="a")
    read(withdrawals)
    assert not taken_back(withdrawals, "7") and not taken_back(withdrawals, sid="a")
    read(withdrawals)
    assert set(withdrawals._lists[1]) == {"b", "c"}
    read(withdrawals)
    assert taken_back(withdrawals, "7") and set(withdrawals._lists[1]) == {"a"}
    read(withdrawals)
    assert asked == [None, None, "x10", "x11", None]


def test_a_refused_cursor_is_followed_by_a_whole_read_at_once():
    fetch, asked = scripted(
        dated("x10", full=True, sessions=["a"]),
        CursorRefused("auth answered 422"),
        dated("x20", full=True, sessions=["b"]),
        dated("x21", full=False),
    )
    withdrawals = reader(fetch)
    read(withdrawals)
    assert taken_back(withdrawals, sid="a")
    read(withdrawals)
    assert taken_back(withdrawals, sid="b") and not taken_back(withdrawals, sid="a")
    read(withdrawals)
    assert asked == [None, "x10", None, "x20"]


def test_auth_unreachable_keeps_the_lists_and_the_cursor_and_nonsense_the_lists_only():
    fetch, asked = scripted(
        dated("x10", full=True, sessions=["a"]),
        ServiceUnavailable("auth did not answer"),
        dated("x11", full=False, sessions=["b"]),
        {"cursor": "x12", "full": False, "withdrawals": [], "signed_out": [{"sid": 5}]},
        {"cursor": "x13", "full": True, "withdrawals": [{"user_id": "7", "at": 1.0}]},
        dated("x14", full=True, sessions=["c"]),
    )
    withdrawals = reader(fetch)
    read(withdrawals)
    read(withdrawals)  # auth down: the lists stay, and the cursor
    assert taken_back(withdrawals, sid="a")
    read(withdrawals)
    assert taken_back(withdrawals, sid="b") and taken_back(withdrawals, sid="a")
    read(withdrawals)  # nonsense: the lists stay, the next read is whole
    read(withdrawals)  # nonsense again: no `until`, no `signed_out`
    assert taken_back(withdrawals, sid="b") and not taken_back(withdrawals, "7")
    read(withdrawals)
    assert taken_back(withdrawals, sid="c") and not taken_back(withdrawals, sid="b")
    assert asked == [None, "x10", "x10", "x11", None, None]


def test_the_whole_list_is_read_again_now_and_then_whatever_the_cursor(monkeypatch):
    fetch, asked = scripted(
        dated("x10", full=True, sessions=["a"]),
        dated("x11", full=False, sessions=["b"]),
        dated("x20", full=True, sessions=["c"]),  # a's and b's entries gone by now
        dated("x21", full=False),
    )
    withdrawals = Withdrawals(fetch, every_seconds=math.inf, whole_every_seconds=600)
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    read(withdrawals)
    clock[0] += 300
    read(withdrawals)
    assert asked == [None, "x10"] and set(withdrawals._lists[1]) == {"a", "b"}
    clock[0] += 301  # ten minutes since the last whole read
    read(withdrawals)
    assert set(withdrawals._lists[1]) == {"c"}
    clock[0] += 5
    read(withdrawals)
    assert asked == [None, "x10", None, "x20"]
