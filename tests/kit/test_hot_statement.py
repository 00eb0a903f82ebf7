"""HotStatement: one statement, one round trip, the same answers and errors on both
databases, and a pooled connection handed back as it was taken. GroupInsert: rows
arriving together go in together, and each thread still gets its own row's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    exists,
    literal,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.common.db import HotStatement, UtcDateTime, group_insert_if, insert_if
from tests.conftest import TEST_DB, database_url_for, recreate_database
from tests.support.concurrency import released_together

metadata = MetaData()
gates = Table("gates", metadata, Column("id", Integer, primary_key=True), Column("state", String))
passes = Table(
    "passes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("gate_id", Integer, nullable=False),
    Column("holder", String, nullable=False, unique=True),
    Column("tags", JSON),
    Column("at", UtcDateTime()),
)
PASS_IF_OPEN = HotStatement(
    insert_if(
        passes,
        ("gate_id", "holder", "tags", "at"),
        exists().where(gates.c.id == bindparam("gate_id"), gates.c.state == "open"),
    )
)


def _gate_open(gate_id):
    return exists().where(gates.c.id == gate_id, gates.c.state == "open")


PASS_COLUMNS = ("gate_id", "holder", "tags", "at")
PASSES = group_insert_if(passes, PASS_COLUMNS, lambda row: _gate_open(row.gate_id), "holder")


@pytest.fixture
def engine():
    url = database_url_for("hot", label="kit")
    recreate_database(url)
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(gates.insert(), [{"id": 1, "state": "open"}, {"id": 2, "state": "shut"}])
    yield engine
    engine.dispose()


def let_in(engine, gate_id: int, holder: str, tags=None, at=None):
    return PASS_IF_OPEN.first(
        engine, {"gate_id": gate_id, "holder": holder, "tags": tags, "at": at}
    )


def passes_held(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(passes.c.holder).order_by(passes.c.id)))


def test_the_row_when_the_condition_holds_none_when_it_does_not(engine):
    first = let_in(engine, 1, "ann")
    assert first is not None and first[0] >= 1
    assert let_in(engine, 2, "bob") is None
    assert passes_held(engine) == ["ann"]  # committed by itself: seen from another connection


def test_literals_keep_their_values_and_rows_read_by_position(engine):
    """The statement's own values (a NULL among them) are sent as written; only the
    named parameters come from the caller."""
    let_in(engine, 1, "ann", tags=["x"])
    read = HotStatement(
        select(
            passes.c.holder,
            passes.c.tags,
            literal(None, Integer).label("absent"),
            literal(7, Integer).label("seven"),
        ).where(passes.c.gate_id == bindparam("gate_id"))
    )
    holder, tags, absent, seven = read.first(engine, {"gate_id": 1})
    assert (holder, tags, absent, seven) == ("ann", ["x"], None, 7)
    assert [tuple(row) for row in read.all(engine, {"gate_id": 1})] == [("ann", ["x"], None, 7)]


def test_a_unique_key_is_sqlalchemys_integrity_error_and_writes_nothing(engine):
    let_in(engine, 1, "ann")
    with pytest.raises(IntegrityError):
        let_in(engine, 1, "ann")
    assert passes_held(engine) == ["ann"]
    assert let_in(engine, 1, "cat") is not None


def test_the_connection_goes_back_to_the_pool_transactional(engine):
    """After an autocommit statement (and after a refused one) the pooled connection
    is an ordinary one again: a rolled-back transaction leaves nothing behind."""
    let_in(engine, 1, "ann")
    with pytest.raises(IntegrityError):
        let_in(engine, 1, "ann")
    with engine.connect() as connection:  # the same pooled connection (pool of one in use)
        connection.execute(passes.insert().values(gate_id=1, holder="dan"))
        connection.rollback()
    assert passes_held(engine) == ["ann"]


@pytest.mark.skipif(TEST_DB != "postgres", reason="needs a server that can drop a connection")
def test_a_connection_the_server_dropped_fails_once_and_is_not_pooled_again(engine):
    let_in(engine, 1, "ann")  # a connection is pooled
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()
    with pytest.raises(DBAPIError) as failed:
        let_in(engine, 1, "bob")
    assert failed.value.connection_invalidated
    assert let_in(engine, 1, "bob") is not None
    assert passes_held(engine) == ["ann", "bob"]


def test_parameters_go_through_their_column_types(engine):
    """JSON is sent as JSON, and a time with an offset is stored as the same instant."""
    kyiv_evening = datetime(2026, 11, 29, 21, 30, tzinfo=timezone(timedelta(hours=2)))
    let_in(engine, 1, "ann", tags=[3, 1], at=kyiv_evening)
    with engine.connect() as connection:
        tags, at = connection.execute(select(passes.c.tags, passes.c.at)).one()
    assert tags == [3, 1]
    assert at == kyiv_evening and at.utcoffset() == timedelta(0)
    assert at == datetime(2026, 11, 29, 19, 30, tzinfo=UTC)


def all_at_once(engine, rows: list[tuple[int, str]]) -> list:
    """Each (gate, holder) inserted by its own thread, released together: True, False
    (the gate is shut) or "taken" (IntegrityError), in order."""

    def inserter(n: int, gate_id: int, holder: str):
        def insert():
            try:
                return PASSES.insert(
                    engine,
                    {
                        "gate_id": gate_id,
                        "holder": holder,
                        "tags": [n] * (n % 3) or None,  # lists of several lengths, and NULL
                        "at": datetime.now(UTC),
                    },
                )
            except IntegrityError:
                return "taken"

        return insert

    return released_together([inserter(n, *row) for n, row in enumerate(rows)])


@pytest.fixture
def batches(monkeypatch) -> list[tuple[int, int]]:
    """(rows carried, rows inserted or None when it failed) of each batch statement."""
    carried: list[tuple[int, int | None]] = []
    real = PASSES.together.all

    def counted(engine, params):
        try:
            inserted = real(engine, params)
        except Exception:
            carried.append((len(params["holder"]), None))
            raise
        carried.append((len(params["holder"]), len(inserted)))
        return inserted

    monkeypatch.setattr(PASSES.together, "all", counted)
    return carried


def test_rows_arriving_together_go_in_together_and_each_learns_its_own_fate(engine, batches):
    rows = [(1, f"resident-{n}") for n in range(24)]
    rows += [(2, f"shut-out-{n}") for n in range(4)]
    rows += [(1, "twice"), (1, "twice")]
    answers = all_at_once(engine, rows)
    assert answers[:24] == [True] * 24
    assert answers[24:28] == [False] * 4
    assert sorted(answers[28:], key=str) == [True, "taken"]
    assert sorted(passes_held(engine)) == sorted([h for _, h in rows[:24]] + ["twice"])
    with engine.connect() as connection:
        tags = dict(connection.execute(select(passes.c.holder, passes.c.tags)).all())
    assert [tags[f"resident-{n}"] for n in range(6)] == [None, [1], [2, 2], None, [4], [5, 5]]
    if TEST_DB == "postgres":
        assert None not in (inserted for _, inserted in batches)  # no batch failed
        assert any(inserted > 1 for _, inserted in batches)  # rows shared a statement
        assert sum(inserted for _, inserted in batches) >= 20  # the first may go alone
    else:
        assert batches == []  # SQLite: every row alone


def test_a_failed_batch_leaves_each_row_to_its_own_attempt(engine, monkeypatch):
    def lost(engine, params):
        raise DBAPIError("INSERT …", {}, Exception("the server went away"))  # or a bug

    monkeypatch.setattr(PASSES.together, "all", lost)
    answers = all_at_once(engine, [(1, f"resident-{n}") for n in range(12)])
    assert answers == [True] * 12
    assert len(passes_held(engine)) == 12


def test_engine_of_a_scoped_session_starts_no_session(polls_app):
    """The hot paths ask for the engine alone: no Session is built (and closed again at
    teardown) just to name it, and it is the engine the session itself would use."""
    from sqlalchemy.orm import Session

    from services.common.db import engine_of
    from services.polls.models import db

    with polls_app.app_context():
        db.session.remove()
        engine = engine_of(db.session)
        assert not db.session.registry.has()
        assert engine is db.session.get_bind()
        # Any other session is asked.
        other = create_engine("sqlite://")
        assert engine_of(Session(bind=other)) is other
