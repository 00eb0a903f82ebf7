"""UtcDateTime: a moment goes in with any offset and comes back as the same instant, in
UTC and aware, on SQLite (which has no time zones) as on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from importlib import import_module

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.common.db import UtcDateTime
from services.petitions.models import Signature

PLUS_5 = timezone(timedelta(hours=5))
MINUS_3 = timezone(timedelta(hours=-3))


@pytest.fixture
def moments(polls_app):
    """A table of its own on the test database (polls'), dropped afterwards."""
    metadata = MetaData()
    table = Table(
        "utc_datetime_probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("at", UtcDateTime()),
    )
    with polls_app.app_context():
        engine = polls_app.extensions["sqlalchemy"].engine
    metadata.create_all(engine)
    try:
        yield engine, table
    finally:
        metadata.drop_all(engine)


def test_an_aware_moment_comes_back_as_the_same_instant_in_utc(moments):
    engine, table = moments
    given = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=PLUS_5)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"id": 1, "at": given}, {"id": 2, "at": None}])
        read = dict(connection.execute(select(table.c.id, table.c.at)).all())
    assert read[1] == given
    assert read[1].tzinfo is not None and read[1].utcoffset() == timedelta(0)
    assert read[1].isoformat() == "2030-01-01T07:00:00.123456+00:00"
    assert read[2] is None


def test_a_naive_moment_is_taken_as_utc(moments):
    engine, table = moments
    with engine.begin() as connection:
        connection.execute(insert(table), {"id": 1, "at": datetime(2030, 1, 1, 7, 0)})
        read = connection.execute(select(table.c.at)).scalar_one()
    assert read == datetime(2030, 1, 1, 7, 0, tzinfo=UTC)


def test_the_database_orders_and_compares_instants_not_wall_clocks(moments):
    engine, table = moments
    base = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    rows = [  # wall-clock order is the opposite of the instants' order
        {"id": 1, "at": (base - timedelta(hours=2)).astimezone(PLUS_5)},  # 15:00+05:00
        {"id": 2, "at": base},  # 12:00Z
        {"id": 3, "at": (base + timedelta(hours=2)).astimezone(MINUS_3)},  # 11:00-03:00
    ]
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
        ordered = connection.execute(select(table.c.id).order_by(table.c.at)).scalars().all()
        # A literal compared with the column binds through the column's type ...
        since = connection.execute(
            select(table.c.id).where(table.c.at >= base.astimezone(MINUS_3)).order_by(table.c.id)
        )
        # ... and so does an untyped bindparam, as the hot statements (_open_at) use it.
        before_now = select(table.c.id).where(table.c.at < bindparam("now")).order_by(table.c.id)
        earlier = connection.execute(before_now, {"now": base.astimezone(PLUS_5)})
        assert (ordered, since.scalars().all(), earlier.scalars().all()) == (
            [1, 2, 3],
            [2, 3],
            [1],
        )
        # An untyped bindparam in UPDATE … SET takes the column's type too.
        connection.execute(
            update(table).where(table.c.id == 2).values(at=bindparam("at")),
            {"at": datetime(2030, 6, 1, 3, 0, tzinfo=PLUS_5)},
        )
        moved = connection.execute(select(table.c.at).where(table.c.id == 2)).scalar_one()
    assert moved == datetime(2030, 5, 31, 22, 0, tzinfo=UTC) and moved.utcoffset() == timedelta(0)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=lambda d: d.name)
def test_the_ddl_is_that_of_a_timezone_aware_datetime(dialect):
    """The migrations were written with DateTime(timezone=True): the tables do not change."""
    assert UtcDateTime().compile(dialect=dialect) == DateTime(timezone=True).compile(
        dialect=dialect
    )
    assert Signature.__table__.c.created_at.type.compile(dialect=dialect) == DateTime(
        timezone=True
    ).compile(dialect=dialect)


MODELS = (
    "services.auth.models",
    "services.auth.accounts.models",
    "services.auth.councils.models",
    "services.auth.internal.models",
    "services.auth.messaging.models",
    "services.polls.models",
    "services.petitions.models",
)


def test_every_datetime_column_of_the_models_is_utc():
    columns = [
        column
        for module in MODELS
        for table in import_module(module).db.metadata.tables.values()
        for column in table.columns
    ]
    # UtcDateTime is a TypeDecorator, not a DateTime: a plain one would store wall clocks.
    assert [str(c) for c in columns if isinstance(c.type, DateTime)] == []
    assert sum(isinstance(c.type, UtcDateTime) for c in columns) > 40
