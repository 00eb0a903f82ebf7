"""One database per service: its own SQLAlchemy metadata, engine and Alembic history.

`new_database()` gives a service its own Flask-SQLAlchemy extension (unbound until
`init_app`), so that in embedded mode three services share a process but not tables.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from weakref import WeakKeyDictionary

from alembic import command, op
from alembic.config import Config
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session

from .gathering import Gatherings

MIGRATIONS_KEY = "viche.migrations"
log = logging.getLogger("viche.db")

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


def insert_unless_present(session: Session, model):
    """An INSERT into `model` that skips a row whose unique key is taken (ON CONFLICT DO
    NOTHING, in the dialect of the database behind the session). Two at once on
    PostgreSQL: the second waits for the first's commit and skips, where a plain INSERT
    would fail its whole transaction. Whether the row went in, a RETURNING tells (not
    `rowcount`, which is -1 here on PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](
        model
    ).on_conflict_do_nothing()


class _JsonText(TypeDecorator):
    """A JSON value bound as its text: an array of these is a text[] that PostgreSQL
    casts item by item (a list of lists would be taken for a 2-D array)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value)


def insert_rows_if(table: Table, columns: tuple[str, ...], condition, key: str):
    """INSERT many rows, each column's values bound as one array (PostgreSQL), each row
    only where `condition(row)` holds for it (`row.<column>` is that row's value),
    skipping rows whose unique keys are taken; RETURNING the `key` of each row
    inserted. For `GroupInsert`."""
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    rows = (
        func.unnest(
            *(
                bindparam(name, type_=ARRAY(_JsonText(), dimensions=1))
                if name in json_columns
                else bindparam(name, type_=ARRAY(table.c[name].type))
                for name in columns
            )
        )
        .table_valued(*columns)
        .render_derived()
    )
    values = select(
        *(cast(rows.c[name], JSON) if name in json_columns else rows.c[name] for name in columns)
    ).where(condition(rows.c))
    return (
        postgresql.insert(table)
        .from_select(columns, values)
        .on_conflict_do_nothing()
        .returning(table.c[key])
    )


def engine_of(session) -> Engine:
    """The engine behind `session` (Flask-SQLAlchemy's scoped session, or any other),
    without making a session to ask: the statements of the busiest paths (HotStatement)
    need only the engine, and a request's first use of the scoped session builds a
    Session that its teardown then closes, which costs more than such a statement's own
    Python. Each service has one database, so its default engine is the one."""
    db = getattr(getattr(session, "session_factory", None), "kw", {}).get("db")
    if isinstance(db, SQLAlchemy):
        return db.engine
    return session.get_bind()


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
    errors are SQLAlchemy's either way (IntegrityError for a unique key). Rows are read
    by position: psycopg's plain tuples (a row with named fields costs a third of the
    INSERT again), which SQLAlchemy's rows match.
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
            constants = {
                name: value
                for name, value in compiled.params.items()
                if not compiled.binds[name].required
            }
            processors = {}
            for name, parameter in compiled.binds.items():
                processor = parameter.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            found = self._compiled[dialect] = (str(compiled), constants, processors)
        return found

    def first(self, engine: Engine, params: dict):
        """The first row the statement returns, or None."""
        return self._run(engine, params, all_rows=False)

    def all(self, engine: Engine, params: dict) -> list:
        """Every row the statement returns."""
        return self._run(engine, params, all_rows=True)

    def _run(self, engine: Engine, params: dict, *, all_rows: bool):
        if engine.dialect.driver != "psycopg":
            with autocommit(engine).connect() as connection:
                result = connection.execute(self.statement, params)
                return result.all() if all_rows else result.first()
        sql, constants, processors = self._for(engine.dialect)
        bound = {**constants, **params}
        for name, processor in processors.items():
            bound[name] = processor(bound[name])
        pooled = engine.raw_connection()
        try:
            driver = pooled.driver_connection
            driver.autocommit = True
            try:
                cursor = driver.execute(sql, bound, prepare=True)
                return cursor.fetchall() if all_rows else cursor.fetchone()
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


def group_insert_if(table: Table, columns: tuple[str, ...], condition, key: str) -> GroupInsert:
    """A GroupInsert of rows of `columns`, each only where `condition(row)` holds:
    `row.<column>` is the bound value for one row alone, the unnested array's item for
    rows together. `key` (a unique column) tells the rows of a batch apart."""
    bound = SimpleNamespace(**{name: bindparam(name, type_=table.c[name].type) for name in columns})
    return GroupInsert(
        alone=HotStatement(insert_if(table, columns, condition(bound))),
        together=HotStatement(insert_rows_if(table, columns, condition, key)),
        key=key,
    )


class GroupInsert:
    """Rows that arrive together go in together (a group commit, through a `Gathering`):
    while one thread's statement is at the database, the rows other threads bring wait
    in line, and the first of them then inserts the whole line with one statement and
    one commit.

    Under load most of what a signature costs the database is per statement (a round
    trip, starting the executor, a commit), not per row. `together` inserts many rows
    (its parameters are lists, one per column), skips any it may not insert, and
    returns the `key` of each row it did insert. A row it skipped, or any row of a
    batch that failed, is then tried `alone` by its own thread, which says why: the
    IntegrityError of a taken key, or no row when the condition does not hold. Only on
    PostgreSQL (the batch statement unnests arrays); elsewhere every row goes alone.
    Each thread's answer comes after the commit that holds its row.
    """

    MAX_ROWS = 64

    def __init__(self, alone: HotStatement, together: HotStatement, key: str) -> None:
        self.alone = alone
        self.together = together
        self.key = key
        self._lines = Gatherings(self._insert, self.MAX_ROWS)  # one line per database

    def insert(self, engine: Engine, params: dict) -> bool:
        """Whether the row went in (False: the statement's condition does not hold);
        IntegrityError when a unique key is taken."""
        if engine.dialect.driver != "psycopg":
            return self.alone.first(engine, params) is not None
        inserted = self._lines[engine]((engine, params))
        if inserted is not None:
            return inserted
        return self.alone.first(engine, params) is not None

    def _insert(self, batch: list[tuple[Engine, dict]]) -> list[bool | None]:
        """Each row's fate: True (in), False (its condition does not hold) or None (to
        be tried alone by its own thread)."""
        engine = batch[0][0]
        rows = [params for _, params in batch]
        if len(rows) == 1:
            # Nobody else in line: the leading thread's own row, by the cheaper statement
            # (whose IntegrityError is that thread's answer).
            return [self.alone.first(engine, rows[0]) is not None]
        lists = {name: [row[name] for row in rows] for name in rows[0]}
        try:
            inserted = {row[0] for row in self.together.all(engine, lists)}
        except Exception:
            # Nothing of it was committed, or (a connection lost after the commit) all
            # of it: either way each row is now tried alone, and answered by its own
            # attempt (a row that did go in finds its key taken).
            log.exception("a batch insert failed; its rows go one by one")
            return [None] * len(rows)
        return [True if row[self.key] in inserted else None for row in rows]


def alembic_config(migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    return config


def upgrade_database(app: Flask, revision: str = "head") -> None:
    """Apply the service's migrations up to `revision` on its own database."""
    _migrate(app, command.upgrade, revision)


def in_steps(step: Callable[[], int], size: int, most: int) -> int:
    """Run `step` (which handles up to `size` rows and commits) until it handles fewer,
    `most` times at the most: a backlog is worked off in short transactions, what is
    left waits for the next run. The rows handled."""
    handled = 0
    for _ in range(most):
        done = step()
        handled += done
        if done < size:
            break
    return handled


def build_index_beside_writers(
    name: str, table: str, columns: list[str], where: str | None = None
) -> None:
    """In a migration: an index on a table that is written all the time (signatures,
    the outbox). On PostgreSQL it is built CONCURRENTLY, so writes go on meanwhile; that
    cannot run in a transaction, so the migrations before it are committed first. A
    build interrupted half way leaves an invalid index of its name, which IF NOT EXISTS
    would keep: it is dropped first, so running the migration again finishes the job."""
    partial = {}
    if where is not None:  # a partial index: only the rows a job looks for
        partial = {"postgresql_where": text(where), "sqlite_where": text(where)}
    if op.get_context().dialect.name != "postgresql":
        op.create_index(name, table, columns, **partial)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().scalar(
            text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": name},
        )
        if invalid:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            name, table, columns, postgresql_concurrently=True, if_not_exists=True, **partial
        )


def drop_index_beside_writers(name: str, table: str) -> None:
    """In a migration: the twin of build_index_beside_writers."""
    if op.get_context().dialect.name != "postgresql":
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def downgrade_database(app: Flask, revision: str) -> None:
    """Undo the service's migrations after `revision` on its own database."""
    _migrate(app, command.downgrade, revision)


def _migrate(app: Flask, step, revision: str) -> None:
    db, migrations_dir = app.extensions[MIGRATIONS_KEY]
    config = alembic_config(migrations_dir)
    with app.app_context(), db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration re-creates a table, and dropping the old one would run
            # its children's ON DELETE CASCADE. SQLite takes this only between transactions.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        config.attributes["connection"] = connection
        config.attributes["target_metadata"] = db.metadata
        try:
            # SQLite: one transaction, checked for orphaned rows before it commits.
            # PostgreSQL: Alembic holds the transaction (migrations/env.py), so that a
            # migration can step out of it (`autocommit_block`, for what cannot run in
            # a transaction: CREATE INDEX CONCURRENTLY).
            with connection.begin() if sqlite else nullcontext():
                step(config, revision)
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
