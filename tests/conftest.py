"""Test set-up shared by every suite.

The same tests run on SQLite (default) and on PostgreSQL (`VICHE_TEST_DB=postgres`).
Each pytest-xdist worker gets its own databases, migrated once per session; after each
test that touched them, every table is emptied, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Fixtures every suite may use: councils in auth, and people with tokens.
pytest_plugins = ("tests.support.people",)

SERVICES = ("auth", "polls", "petitions")
POSTGRES = os.environ.get("VICHE_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
TEST_DB = os.environ.get("VICHE_TEST_DB", "sqlite")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Two checkouts testing on one PostgreSQL at once each set their own tag.
DB_TAG = os.environ.get("VICHE_TEST_DB_TAG", "")
VAR_DIR = Path(tempfile.mkdtemp(prefix=f"viche-test-{WORKER}-"))

if TEST_DB not in ("sqlite", "postgres"):
    raise pytest.UsageError("VICHE_TEST_DB is sqlite or postgres")


def database_url_for(service: str, label: str = "test") -> str:
    if TEST_DB == "postgres":
        return f"{POSTGRES}/viche_{label}_{DB_TAG}{WORKER}_{service}"
    return f"sqlite:///{VAR_DIR / f'{label}-{service}.db'}"


def recreate_database(url: str) -> None:
    """Start from an empty database (PostgreSQL: drop and create; SQLite: delete the file)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        Path(parsed.database).unlink(missing_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def redis_database(url: str, database: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


# The environment every app built in this session reads; set before any app exists.
os.environ.update(
    {
        "VICHE_ENV": "test",
        "VICHE_VAR_DIR": str(VAR_DIR),
        "LOG_LEVEL": "WARNING",
        "VICHE_RATE_LIMIT": "100000/minute",
        # Tables are emptied between tests, signing keys included: a new key must be
        # fetched at once, not after the production throttle of a second.
        "VICHE_JWKS_MIN_REFETCH_SECONDS": "0",
        **{f"{s.upper()}_DATABASE_URL": database_url_for(s) for s in SERVICES},
    }
)
if TEST_DB == "sqlite":
    os.environ.pop("REDIS_URL", None)  # the SQLite run is the no-extras run: memory limits
elif os.environ.get("REDIS_URL") and WORKER.startswith("gw"):
    # Each worker counts in its own Redis database, so its rate limits are its own.
    worker_db = 15 - int(WORKER.removeprefix("gw")) % 16
    os.environ["REDIS_URL"] = redis_database(os.environ["REDIS_URL"], worker_db)


def empty_tables(app) -> None:
    """Delete every row of a service's tables, children first."""
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture(scope="session")
def embedded():
    """All apps in one process, as `make run` serves them, on freshly migrated databases."""
    from gateway.embedded import create_embedded_app
    from services.common.db import upgrade_database

    for service in SERVICES:
        recreate_database(database_url_for(service))
    gateway = create_embedded_app(background=False)  # tests deliver the outbox themselves
    for service in SERVICES:
        upgrade_database(gateway.apps[service])
    yield gateway
    for service in SERVICES:
        app = gateway.apps[service]
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()


@pytest.fixture
def gateway(embedded):
    """The embedded gateway, with every service's tables emptied after the test."""
    from services.auth.keys import forget_signer
    from services.common.caching import forget_public_reads
    from services.common.councils import forget_councils
    from services.common.policies import forget_kept_policies
    from services.common.throttle import all_throttles
    from services.petitions.signing import forget_petition_councils
    from services.polls.lifecycle import forget_published_polls
    from services.polls.tallies import forget_folded_reads

    yield embedded
    for service in SERVICES:
        empty_tables(embedded.apps[service])
    forget_public_reads()
    forget_councils()  # a test may have changed a council's time zone
    forget_published_polls()
    forget_folded_reads()
    forget_petition_councils()
    forget_kept_policies()
    forget_signer()
    # Attempts counted in one test (failed sign-ins, votes) must not limit the next one.
    for service in SERVICES:
        for throttle in all_throttles(embedded.apps[service]):
            throttle.forget_all()


@pytest.fixture
def client(gateway):
    """An HTTP client for the embedded gateway (paths as the public sees them)."""
    from werkzeug.test import Client

    return Client(gateway)


@pytest.fixture
def auth_app(gateway):
    return gateway.apps["auth"]


@pytest.fixture
def polls_app(gateway):
    return gateway.apps["polls"]


@pytest.fixture
def petitions_app(gateway):
    return gateway.apps["petitions"]
