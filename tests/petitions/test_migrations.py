"""Migrations that do more than a model change shows: 0010, the index on signatures
(petition_id, id), built on PostgreSQL without a transaction (CONCURRENTLY), taken away
and built again; 0011, the councils' days off, kept for councils that set rules; 0012,
when each petition rejected before it was rejected, from its timeline."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from services.common.db import downgrade_database, upgrade_database
from services.petitions import create_app
from tests.conftest import TEST_DB, database_url_for, recreate_database

INDEX = "ix_signatures_petition_id_id"


@pytest.fixture
def app():
    url = database_url_for("petitions", "upgrade")
    recreate_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    yield app
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


def _indexes(app) -> dict[str, list[str]]:
    with app.app_context():
        indexes = inspect(app.extensions["sqlalchemy"].engine).get_indexes("signatures")
    return {index["name"]: index["column_names"] for index in indexes}


def _revision(app) -> str:
    with app.app_context(), app.extensions["sqlalchemy"].engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_0010_adds_the_index_and_takes_it_away(app):
    upgrade_database(app, "0009")
    assert INDEX not in _indexes(app)
    upgrade_database(app, "0010")
    assert _indexes(app)[INDEX] == ["petition_id", "id"] and _revision(app) == "0010"
    downgrade_database(app, "0009")
    assert INDEX not in _indexes(app) and _revision(app) == "0009"
    upgrade_database(app, "0010")
    assert _indexes(app)[INDEX] == ["petition_id", "id"]


@pytest.mark.skipif(TEST_DB != "postgres", reason="CREATE INDEX CONCURRENTLY is PostgreSQL's")
def test_0010_run_again_finishes_a_build_that_failed_half_way(app):
    """A concurrent build that fails leaves an invalid index of its name behind (here one
    made to fail on purpose): 0010 run again replaces it with a whole one; and an index
    already whole (a run stopped after the build) is kept."""
    upgrade_database(app, "0009")
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO petitions (id, council, author_id, author_name, title, text,"
                    " state, hidden, created_at) VALUES"
                    " (1, 'kyiv', '1', 'A', 'Title', 'Text', 'open', false, now())"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO signatures (petition_id, user_id, signer_name, receipt, notify,"
                    " created_at) VALUES (1, '1', 'A', 'r1', false, now()),"
                    " (1, '2', 'B', 'r2', false, now())"
                )
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            with pytest.raises(IntegrityError):  # two signatures of one petition
                connection.execute(
                    text(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON signatures (petition_id)")
                )
            valid = text("SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:i AS regclass)")
            assert connection.execute(valid, {"i": INDEX}).scalar_one() is False
    upgrade_database(app, "0010")
    with app.app_context(), engine.connect() as connection:
        assert connection.execute(valid, {"i": INDEX}).scalar_one() is True
    assert _indexes(app)[INDEX] == ["petition_id", "id"]
    with app.app_context(), engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    upgrade_database(app, "0010")
    assert _indexes(app)[INDEX] == ["petition_id", "id"] and _revision(app) == "0010"


def test_0011_gives_councils_with_rules_no_days_off_and_takes_the_column_away(app):
    upgrade_database(app, "0010")
    with app.app_context(), app.extensions["sqlalchemy"].engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO council_policies (council, threshold, collection_days,"
                " signer_verification, author_verification, sponsors_needed, moderation_days,"
                " response_days, signer_names_public, rejected_public, allow_withdrawal,"
                " on_failure, rejection_reasons, updated_at) VALUES ('kyiv', 100, 30,"
                " 'email', 'email', 0, 2, 10, true, true, false, 'closed', '[]',"
                " CURRENT_TIMESTAMP)"
            )
        )
    upgrade_database(app, "0011")
    with app.app_context(), app.extensions["sqlalchemy"].engine.connect() as connection:
        days_off = connection.execute(
            text("SELECT non_working_days FROM council_policies WHERE council = 'kyiv'")
        ).scalar_one()
    assert days_off in ([], "[]") and _revision(app) == "0011"
    downgrade_database(app, "0010")
    with app.app_context():
        columns = inspect(app.extensions["sqlalchemy"].engine).get_columns("council_policies")
    assert "non_working_days" not in {column["name"] for column in columns}


def test_0012_dates_the_petitions_rejected_before_from_their_timeline(app):
    upgrade_database(app, "0011")
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    with app.app_context(), engine.begin() as connection:
        for petition_id, state in ((1, "rejected"), (2, "open")):
            connection.execute(
                text(
                    "INSERT INTO petitions (id, council, author_id, author_name, title, text,"
                    " state, hidden, created_at) VALUES (:id, 'kyiv', 'r1', 'Олена', 'Лавки',"
                    " 'Просимо лавки', :state, false, '2026-03-01 09:00:00+00:00')"
                ),
                {"id": petition_id, "state": state},
            )
            connection.execute(
                text(
                    "INSERT INTO transitions (petition_id, from_state, to_state, at) VALUES"
                    " (:id, 'moderation', :state, '2026-03-04 12:30:00+00:00')"
                ),
                {"id": petition_id, "state": state},
            )
    upgrade_database(app, "0012")
    with app.app_context(), engine.connect() as connection:
        dated = dict(connection.execute(text("SELECT id, rejected_at FROM petitions")).all())
    assert str(dated[1]).startswith("2026-03-04 12:30:00") and dated[2] is None
    downgrade_database(app, "0011")
    with app.app_context():
        columns = inspect(engine).get_columns("petitions")
    assert "rejected_at" not in {column["name"] for column in columns}
