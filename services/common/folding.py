"""Counting appended rows in batches, behind a watermark.

Hot writes (a signature, a vote) only append rows; an aggregator folds the rows appended
since the last fold into stored counts. Rows younger than `settle` wait for the next
fold: on PostgreSQL a row with a lower id can commit after one with a higher id, and a
watermark moved past it would skip it for good.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Integer, String, func, literal, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import HotStatement, insert_unless_present
from .timeutil import utcnow

SETTLE = timedelta(milliseconds=300)


class WatermarkColumns:
    """Columns of a service's `fold_watermarks` table: one row per folded stream."""

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def rows_past_watermarks(watermark_model: type, streams: list[tuple[str, object]]) -> HotStatement:
    """A statement answering whether any of `streams` ((watermark name, id column)) has
    rows past its watermark, committed or not yet settled: one indexed read without a
    lock. A fold that finds none has nothing to do, and skips the locking transaction
    that most runs of an idle service would otherwise be."""
    return HotStatement(
        select(
            or_(
                *(
                    select(literal(1))
                    .where(
                        id_column
                        > func.coalesce(
                            select(watermark_model.last_id)
                            .where(watermark_model.name == name)
                            .scalar_subquery(),
                            0,
                        )
                    )
                    .exists()
                    for name, id_column in streams
                )
            )
        )
    )


def claim_settled(
    session: Session, watermark_model: type, name: str, id_column, created_column
) -> tuple[int, int] | None:
    """Lock the stream's watermark; (lowest id exclusive, highest id inclusive) of the
    settled rows not yet folded, or None when there are none (then commit, to release
    the lock).

    The caller folds the rows in that range, moves the watermark to the highest id
    (`advance_watermark`) and commits; the row lock keeps two folds in two processes
    from counting twice. Core statements: a fold runs several times a second in every
    process, and the ORM's reading of the watermark was half of what a fold cost."""
    watermarks = watermark_model.__table__
    locked = select(watermarks.c.last_id).where(watermarks.c.name == name).with_for_update()
    after = session.execute(locked).scalar()
    if after is None:  # the stream's first fold
        _make_watermark(session, watermark_model, name)
        after = session.execute(locked).scalar()
    ids, created = _table_column(id_column), _table_column(created_column)
    upto = session.execute(
        select(func.max(ids)).where(ids > after, created <= utcnow() - SETTLE)
    ).scalar()
    if upto is None:
        return None
    return after, upto


def advance_watermark(session: Session, watermark_model: type, name: str, upto: int) -> None:
    """The stream is folded up to `upto` (in the transaction of `claim_settled`)."""
    watermarks = watermark_model.__table__
    session.execute(update(watermarks).where(watermarks.c.name == name).values(last_id=upto))


def _table_column(attribute):
    """The table's own column behind a mapped attribute: a statement of table columns
    skips the ORM's compiling and loading."""
    return attribute.property.columns[0]


def _make_watermark(session: Session, watermark_model: type, name: str) -> None:
    """Start the stream at 0, unless another process has just done so: then this one
    waits for that row and leaves it as it is."""
    session.execute(insert_unless_present(session, watermark_model).values(name=name, last_id=0))


def add_to_count(session: Session, model: type, key: dict, column: str, delta: int, **also) -> None:
    """Add `delta` to the count `column` of the `model` row named by `key`, making the
    row if there is none yet (only the aggregator writes counts: no race to insert)."""
    table = model.__table__
    changed = session.execute(
        update(table)
        .where(*(table.c[name] == value for name, value in key.items()))
        .values({column: table.c[column] + delta, **also})
    ).rowcount
    if not changed:
        session.add(model(**key, **{column: delta}, **also))
