"""Probes tell the truth, and migrations apply once and cleanly."""

from __future__ import annotations

import socket

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from services.auth import create_app as create_auth_app
from services.common import db as db_module
from services.common.db import downgrade_database, upgrade_database
from services.petitions import create_app as create_petitions_app
from services.polls import create_app as create_polls_app
from tests.conftest import TEST_DB, database_url_for, recreate_database

FACTORIES = {"auth": create_auth_app, "polls": create_polls_app, "petitions": create_petitions_app}


def test_every_service_is_alive_and_ready_through_the_gateway(client):
    for service in ("auth", "polls", "petitions"):
        for probe in ("healthz", "readyz"):
            response = client.get(f"/api/{service}/{probe}")
            assert response.status_code == 200, (service, probe)
            assert response.json == {"status": "ok", "service": service}


def test_readyz_is_503_when_the_database_is_unreachable():
    with socket.socket() as sock:  # a port where no database listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_auth_app(
        {"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{port}/none"}
    )
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["type"] == "urn:viche:problem:not-ready"


def test_migrations_are_idempotent_and_create_the_tables(tmp_path):
    app = create_auth_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/auth.db"})
    upgrade_database(app)
    upgrade_database(app)  # a second run is a no-op, as `make run` does at every start
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert {"alembic_version", "signing_keys"} <= tables
    # The models and the migrations describe the same tables.
    assert set(db.metadata.tables) <= tables


@pytest.mark.parametrize("service", ["auth", "polls", "petitions"])
def test_the_models_are_what_the_migrations_build(service):
    """Else the next `viche revision` would write changes nobody made."""
    url = database_url_for(service, "models")
    recreate_database(url)
    app = FACTORIES[service]({"SQLALCHEMY_DATABASE_URI": url})
    upgrade_database(app)
    db = app.extensions["sqlalchemy"]
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    with app.app_context():
        db.engine.dispose()
    assert differences == []


def test_a_migration_that_rebuilds_a_table_keeps_its_childrens_rows(tmp_path):
    """SQLite re-creates a table to change a column (auth 0006 does, for users): with
    foreign keys enforced, dropping the old table would delete every refresh token."""
    app = create_auth_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/auth.db"})
    upgrade_database(app, "0005")
    db = app.extensions["sqlalchemy"]
    with app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (id, locale, link_nonce, created_at)"
            " VALUES (1, 'uk', 0, '2026-11-01 10:00:00.000000')"
        )
        connection.exec_driver_sql(
            "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at)"
            " VALUES (1, 'f', 'h', '2026-11-01 10:00:00.000000', '2026-12-01 10:00:00.000000')"
        )
    upgrade_database(app)
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM refresh_tokens").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again
        db.engine.dispose()


def auth_database_at(revision: str, tag: str, **config):
    """An auth app on a database of its own, migrated up to `revision` only: for a
    migration's test to write the rows it must carry. (app, its Flask-SQLAlchemy)."""
    url = database_url_for("auth", tag)
    recreate_database(url)
    app = create_auth_app({"SQLALCHEMY_DATABASE_URI": url, **config})
    upgrade_database(app, revision)
    return app, app.extensions["sqlalchemy"]


def test_councils_that_existed_get_the_installations_time_zone():
    """auth 0007: a council made before councils had a time zone gets
    VICHE_DEFAULT_TIME_ZONE (here set to Budapest's), and none may lack one after."""
    app, db = auth_database_at("0006", "zone", DEFAULT_TIME_ZONE="Europe/Budapest")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO councils (slug, name, default_language, created_at)"
                " VALUES ('szeged', 'Szeged', 'hu', :at)"
            ),
            {"at": "2026-11-01 10:00:00+00:00"},
        )
    upgrade_database(app)
    with app.app_context():
        with db.engine.connect() as connection:
            zone = connection.execute(text("SELECT time_zone FROM councils")).scalar_one()
            assert zone == "Europe/Budapest"
            with pytest.raises(IntegrityError):
                connection.execute(
                    text(
                        "INSERT INTO councils (slug, name, default_language, created_at)"
                        " VALUES ('pecs', 'Pécs', 'hu', :at)"
                    ),
                    {"at": "2026-11-01 10:00:00+00:00"},
                )
        db.engine.dispose()


def test_invitations_made_before_references_keep_none_and_references_are_unique():
    """auth 0018: an invitation already there gets no reference (its mailed link names
    its id and works until it expires); two cannot share one; the way back drops it."""
    app, db = auth_database_at("0017", "references")
    at = {"at": "2026-11-01 10:00:00+00:00"}
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, locale, link_nonce, created_at) VALUES (1, 'uk', 0, :at)"),
            at,
        )
        connection.execute(
            text(
                "INSERT INTO councils (id, slug, name, default_language, time_zone, created_at)"
                " VALUES (1, 'kyiv', 'Kyiv', 'uk', 'Europe/Kyiv', :at)"
            ),
            at,
        )
        for n in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO invitations"
                    " (council_id, email, role, invited_by, created_at, expires_at)"
                    " VALUES (1, :email, 'moderator', 1, :at, :at)"
                ),
                {**at, "email": f"person{n}@example.org"},
            )
    upgrade_database(app)
    insert = text(
        "INSERT INTO invitations"
        " (council_id, email, role, invited_by, created_at, expires_at, reference)"
        " VALUES (1, 'late@example.org', 'admin', 1, :at, :at, 'same')"
    )
    with app.app_context():
        with db.engine.begin() as connection:
            assert connection.execute(text("SELECT reference FROM invitations")).all() == [
                (None,),
                (None,),
            ]
            connection.execute(insert, at)
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            connection.execute(insert, at)
        downgrade_database(app, "0017")
        columns = {column["name"] for column in inspect(db.engine).get_columns("invitations")}
        assert "reference" not in columns
        with db.engine.connect() as connection:
            assert len(connection.execute(text("SELECT id FROM invitations")).all()) == 3
        db.engine.dispose()


@pytest.mark.skipif(TEST_DB != "postgres", reason="needs a server that can drop a connection")
def test_a_pooled_connection_the_server_dropped_is_replaced_not_failed(petitions_app, monkeypatch):
    """A connection that sat idle is pinged before use, so a request after a server
    restart (here: its backend terminated) gets a fresh connection instead of a 500."""
    db = petitions_app.extensions["sqlalchemy"]
    client = petitions_app.test_client()
    assert client.get("/readyz").status_code == 200  # a connection is now pooled
    with petitions_app.app_context():
        engine = db.engine
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    admin.dispose()
    assert dropped >= 1
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    try:
        response = client.get("/readyz")  # asks the database
        assert response.status_code == 200, response.json
    finally:
        engine.dispose()  # other dead connections may still sit in the pool


def test_verifications_lose_the_address_column_and_what_it_still_held():
    """auth 0019: a request from before, still holding its address, keeps everything but
    the address; the way back brings the column back empty."""
    app, db = auth_database_at("0018", "no-address")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO email_verifications (id, caller, purpose, subject, email,"
                " email_hash, locale, context, status, created_at, expires_at) VALUES ('v1',"
                " 'polls', 'poll-vote:7', 'vote-1', 'voter@example.org', 'h', 'uk', '{}',"
                " 'pending', :at, :at)"
            ),
            {"at": "2026-11-01 10:00:00+00:00"},
        )
    upgrade_database(app)
    with app.app_context():
        columns = {c["name"] for c in inspect(db.engine).get_columns("email_verifications")}
        assert "email" not in columns and "email_hash" in columns
        with db.engine.connect() as connection:
            row = connection.execute(text("SELECT * FROM email_verifications")).one()
        assert row.id == "v1" and row.status == "pending"
        assert "voter@example.org" not in [str(value) for value in row]
        downgrade_database(app, "0018")
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT email FROM email_verifications")).all() == [
                (None,)
            ]
        db.engine.dispose()
