"""One database per service: its own SQLAlchemy metadata, engine and Alembic history.

`new_database()` gives a service its own Flask-SQLAlchemy extension (unbound until
`init_app`), so that in embedded mode three services share a process but not tables.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    DateTime,
    MetaData,
    Table,
    TypeDecorator,
    bindparam,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase

MIGRATIONS_KEY = "viche.migrations"

# A pooled connection idle this long is pinged before use (a restarted server or a
# dropped idle connection). A connection reused sooner is not: under load a ping on
# every checkout would be a round trip for each request.
PING_AFTER_IDLE_SECONDS = 2.0

# Named constraints let Alembic alter them later, SQLite included.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """A moment in time, stored and read back as UTC (`DateTime(timezone=True)` in the DDL).

    SQLite has no time zones: it would store an aware datetime's wall-clock time, drop
    its offset, and hand back naive values. So every value is turned to UTC before it is
    bound (a naive one is taken as UTC already), and every
    value read is an aware UTC datetime, on PostgreSQL as on SQLite. Comparisons with a
    column of this type bind through it too, so they compare the same instants.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def new_database() -> SQLAlchemy:
    """A Flask-SQLAlchemy extension with a metadata of its own."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    return SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _record) -> None:
    """WAL lets readers run beside the writer; a busy timeout queues writers instead of failing."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def init_database(app: Flask, db: SQLAlchemy) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
        options.setdefault("connect_args", {"timeout": 10, "check_same_thread": False})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    with app.app_context():
        _ping_after_idle(db.engine)


def _ping_after_idle(engine: Engine) -> None:
    """Check a connection that sat idle in the pool before handing it out; a dead one
    is replaced (the pool retries on DisconnectionError) instead of failing a request."""

    @event.listens_for(engine.pool, "checkin")
    def _idle_from_now(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            raise DisconnectionError("the pooled connection is gone")


def insert_if(table: Table, columns: tuple[str, ...], condition):
    """INSERT one row, its values bound by column name, only where `condition` holds;
    RETURNING its id (no row: the condition failed). The check and the write are one
    statement, so one round trip, and nothing can change in between."""
    values = select(*(bindparam(name, type_=table.c[name].type) for name in columns))
    return insert(table).from_select(columns, values.where(condition)).returning(table.c.id)


_autocommit_engines: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


def autocommit(engine: Engine) -> Engine:
    """`engine`'s pool, handing out connections in autocommit: a statement that is a
    whole transaction by itself runs without BEGIN and COMMIT round trips."""
    found = _autocommit_engines.get(engine)
    if found is None:
        found = _autocommit_engines[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


class HotStatement:
    """A statement that is a whole transaction by itself, on the busiest paths (a
    signature, a vote): run in autocommit, one round trip.

    On PostgreSQL it goes to psycopg directly, on a connection from the engine's pool, as
    a prepared statement compiled once: SQLAlchemy's execution layer (a Connection and a
    result object per call, events, cache lookups) costs more than the INSERT itself.
    Other databases (SQLite in embedded mode) run it through SQLAlchemy. Parameters go
    through their columns' types as SQLAlchemy would send them (UTC times, JSON), and
    errors are SQLAlchemy's either way (IntegrityError for a unique key).
    """

    def __init__(self, statement) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, tuple[str, dict, dict]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, dict, dict]:
        """(SQL, the statement's own literal values, each parameter's type processing)."""
        found = self._compiled.get(dialect)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            # Literal values of the statement (a state name, say) are bound parameters too.
            constants = {k: v for k, v in compiled.params.items() if v is not None}
            processors = {}
            for name, parameter in compiled.binds.items():
                processor = parameter.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            found = self._compiled[dialect] = (str(compiled), constants, processors)
        return found

    def first(self, engine: Engine, params: dict):
        """The first row the statement returns, or None."""
        if engine.dialect.driver != "psycopg":
            with autocommit(engine).connect() as connection:
                return connection.execute(self.statement, params).first()
        sql, constants, processors = self._for(engine.dialect)
        bound = {**constants, **params}
        for name, processor in processors.items():
            bound[name] = processor(bound[name])
        pooled = engine.raw_connection()
        try:
            driver = pooled.driver_connection
            driver.autocommit = True
            try:
                return driver.execute(sql, bound, prepare=True).fetchone()
            finally:
                if not driver.closed:
                    driver.autocommit = False
        except engine.dialect.loaded_dbapi.Error as exc:
            # A connection the server dropped is thrown away, not pooled for the next.
            dropped = engine.dialect.is_disconnect(exc, driver, None)
            if dropped:
                pooled.invalidate(exc)
            raise DBAPIError.instance(
                sql,
                bound,
                exc,
                engine.dialect.loaded_dbapi.Error,
                connection_invalidated=dropped,
                dialect=engine.dialect,
            ) from exc
        finally:
            pooled.close()


def alembic_config(migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return config


def upgrade_database(app: Flask, revision: str = "head") -> None:
    """Apply the service's migrations up to `revision` on its own database."""
    db, migrations_dir = app.extensions[MIGRATIONS_KEY]
    config = alembic_config(migrations_dir)
    with app.app_context(), db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration re-creates a table, and dropping the old one would run
            # its children's ON DELETE CASCADE. SQLite takes this only between transactions.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                config.attributes["target_metadata"] = db.metadata
                command.upgrade(config, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("the migration left rows whose parent is gone")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def new_revision(app: Flask, message: str) -> str:
    """Write the next migration of the service from the difference between its models and
    its database at head (Alembic autogenerate); the new file's path. Read it before use."""
    db, migrations_dir = app.extensions[MIGRATIONS_KEY]
    config = alembic_config(migrations_dir)
    versions = sorted(
        p.name for p in (migrations_dir / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )
    number = f"{int(versions[-1][:4]) + 1:04d}" if versions else "0001"
    with app.app_context(), db.engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["target_metadata"] = db.metadata
        script = command.revision(config, message=message, autogenerate=True, rev_id=number)
    return script.path


def run_migrations_online(context) -> None:
    """Body of every service's migrations/env.py: run on the connection the caller gave."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=context.config.attributes["target_metadata"],
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` if it is missing (SQLite needs nothing)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).scalar()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()
