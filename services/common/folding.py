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


def claim_settled(session: Session, watermark_model: type, name: str, id_column, created_column):
    """Lock the stream's watermark; (watermark, lowest id exclusive, highest id inclusive)
    of the settled rows not yet folded, or None when there are none (then commit, to
    release the lock).

    The caller folds the rows in that range, sets `watermark.last_id` to the highest id
    and commits; the row lock keeps two folds in two processes from counting twice.
    """
    mark = session.get(watermark_model, name, with_for_update=True)
    if mark is None:  # the stream's first fold
        _make_watermark(session, watermark_model, name)
        mark = session.get(watermark_model, name, with_for_update=True)
    upto = session.scalar(
        select(func.max(id_column)).where(
            id_column > mark.last_id, created_column <= utcnow() - SETTLE
        )
    )
    if upto is None:
        return None
    return mark, mark.last_id, upto


def _make_watermark(session: Session, watermark_model: type, name: str) -> None:
    """Start the stream at 0, unless another process has just done so: then this one
    waits for that row and leaves it as it is."""
    session.execute(insert_unless_present(session, watermark_model).values(name=name, last_id=0))


def add_to_count(session: Session, model: type, key: dict, column: str, delta: int, **also) -> None:
    """Add `delta` to the count `column` of the `model` row named by `key`, making the
    row if there is none yet (only the aggregator writes counts: no race to insert)."""
    counted = getattr(model, column)
    changed = session.execute(
        update(model)
        .where(*(getattr(model, name) == value for name, value in key.items()))
        .values({column: counted + delta, **also})
    ).rowcount
    if not changed:
        session.add(model(**key, **{column: delta}, **also))
