"""Probes tell the truth, and migrations apply once and cleanly."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import create_engine, inspect, text

from services.auth import create_app as create_auth_app
from services.common import db as db_module
from services.common.db import upgrade_database
from tests.conftest import TEST_DB


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
