"""Results that never block voting: ballots and tally entries folded in batches,
reconciled at close.

A vote is its ballot: `fold_votes` adds each new ballot's voter and first choices to
the option and poll tallies (summed here, since SQLite and PostgreSQL unnest JSON
differently). A changed vote appends entries (+1 per option it adds, -1 per option it
drops), folded by the same job in one grouped query per batch. Each stream has its own
watermark. When a poll has closed, `reconcile_closed` recounts it from the ballots,
the ground truth, and marks its results final.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import (
    JSON,
    Integer,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from services.common.db import HotStatement, engine_of
from services.common.folding import (
    add_to_count,
    advance_watermark,
    claim_settled,
    rows_past_watermarks,
)
from services.common.timeutil import utcnow

from .lifecycle import PublishedPoll
from .models import Ballot, FoldWatermark, OptionTally, Poll, PollTally, TallyEntry

BALLOTS = "ballots"  # the name migration 0004 starts the stream with
ENTRIES = "tally-entries"
# Locked in this order by every fold and reconciliation: two processes taking the two
# watermarks in opposite orders could deadlock.
STREAMS = ((BALLOTS, Ballot), (ENTRIES, TallyEntry))
# A vote whose transaction began just before closing may commit just after; by this
# long after closing every such vote is in, and the recount is final.
RECONCILE_AFTER_CLOSE = timedelta(seconds=5)
ANYTHING_TO_FOLD = rows_past_watermarks(FoldWatermark, [(n, m.id) for n, m in STREAMS])


def entries_for(poll_id: int, ballot_id: int, added: list[int], removed: list[int]) -> list[dict]:
    """Tally entry rows for a changed ballot: +1 per added option, -1 per removed one."""
    now = utcnow()
    deltas = [(o, 1) for o in added] + [(o, -1) for o in removed]
    return [
        {
            "poll_id": poll_id,
            "ballot_id": ballot_id,
            "option_id": option,
            "delta": delta,
            "created_at": now,
        }
        for option, delta in deltas
    ]


def _add_to_option(session: Session, poll_id: int, option_id: int, delta: int) -> None:
    add_to_count(session, OptionTally, {"option_id": option_id}, "votes", delta, poll_id=poll_id)


def _add_voters(session: Session, poll_id: int, delta: int) -> None:
    add_to_count(session, PollTally, {"poll_id": poll_id}, "voters", delta, updated_at=utcnow())


def _claim_streams(session: Session) -> list:
    """Lock both watermarks, in the order of STREAMS; what each has settled to fold
    (see claim_settled)."""
    return [
        claim_settled(session, FoldWatermark, name, model.id, model.created_at)
        for name, model in STREAMS
    ]


_ballot = Ballot.__table__.c  # table columns: the fold's read skips the ORM


def fold_votes(session: Session) -> int:
    """Fold settled new ballots and entries into the tallies; the number of rows folded."""
    if not ANYTHING_TO_FOLD.first(engine_of(session), {})[0]:
        return 0
    ballots, entries = _claim_streams(session)
    deltas: Counter = Counter()  # (poll id, option id, or None for voters) -> delta
    folded = 0
    if ballots is not None:
        after, upto = ballots
        for poll_id, first_choices in session.execute(
            select(_ballot.poll_id, _ballot.first_choices).where(
                _ballot.id > after, _ballot.id <= upto
            )
        ):
            deltas[poll_id, None] += 1
            deltas.update((poll_id, option_id) for option_id in first_choices)
            folded += 1
        advance_watermark(session, FoldWatermark, BALLOTS, upto)
    if entries is not None:
        after, upto = entries
        for poll_id, option_id, delta, count in session.execute(
            select(
                TallyEntry.poll_id,
                TallyEntry.option_id,
                func.sum(TallyEntry.delta),
                func.count(TallyEntry.id),
            )
            .where(TallyEntry.id > after, TallyEntry.id <= upto)
            .group_by(TallyEntry.poll_id, TallyEntry.option_id)
        ):
            deltas[poll_id, option_id] += delta
            folded += count
        advance_watermark(session, FoldWatermark, ENTRIES, upto)
    for (poll_id, option_id), delta in deltas.items():
        if not delta:
            continue
        if option_id is None:
            _add_voters(session, poll_id, delta)
        else:
            _add_to_option(session, poll_id, option_id, delta)
    session.commit()
    return folded


def recount(session: Session, poll: Poll) -> tuple[int, Counter]:
    """Voters and votes per option, from the ballots."""
    per_option: Counter = Counter()
    voters = 0
    for choices in session.scalars(select(Ballot.choices).where(Ballot.poll_id == poll.id)):
        voters += 1
        per_option.update(choices)
    return voters, per_option


def reconcile_closed(session: Session) -> int:
    """Recount polls closed a moment ago from their ballots; the number made final."""
    fold_votes(session)  # everything settled is in the tallies before comparing
    made_final = 0
    while True:
        # One poll at a time, locked: every process runs this job, and each takes only a
        # poll no other has taken. (NO KEY UPDATE: a tally row inserted meanwhile still
        # takes its key-share lock on the poll, and no fold waits on us.)
        poll = session.scalars(
            select(Poll)
            .where(
                Poll.state.in_(("closed", "archived")),
                Poll.reconciled_at.is_(None),
                Poll.closed_at <= utcnow() - RECONCILE_AFTER_CLOSE,
            )
            .order_by(Poll.id)
            .limit(1)
            .with_for_update(skip_locked=True, key_share=True)
        ).first()
        if poll is None:
            return made_final
        # Hold the folds off while comparing, so no vote is counted twice.
        _claim_streams(session)
        reconcile(session, poll)
        poll.reconciled_at = utcnow()
        session.commit()
        made_final += 1


def reconcile(session: Session, poll: Poll) -> bool:
    """Correct the poll's tallies to its ballots (call with the watermarks locked);
    whether anything was off. Ballots and entries not folded yet are allowed for: they
    will still be added."""
    voters, per_option = recount(session, poll)
    counted_voters, counted = current_tallies(session, poll.id)
    off = False
    if voters != counted_voters:
        _add_voters(session, poll.id, voters - counted_voters)
        off = True
    for option in poll.options:
        delta = per_option[option.id] - counted.get(option.id, 0)
        if delta:
            _add_to_option(session, poll.id, option.id, delta)
            off = True
    session.flush()
    return off


def stored_tallies(session: Session, poll: Poll) -> tuple[int, dict[int, int]]:
    """The folded voters and votes per option (at most a fold behind)."""
    voters = session.scalar(select(PollTally.voters).where(PollTally.poll_id == poll.id)) or 0
    per_option = dict(
        session.execute(
            select(OptionTally.option_id, OptionTally.votes).where(OptionTally.poll_id == poll.id)
        ).all()
    )
    return voters, per_option


def _folded_upto(stream: str):
    return (
        select(func.coalesce(func.max(FoldWatermark.last_id), 0))
        .where(FoldWatermark.name == stream)
        .scalar_subquery()
    )


# Built once: results are read on every results request and every vote-counted page.
_POLL = bindparam("poll_id")
_NO_CHOICES = cast(null(), JSON)  # first in the union: it types the column for every row
# Rows of (option id or None for voters, amount, a ballot's choices to count each once).
_FOLDED = (
    select(OptionTally.option_id, OptionTally.votes, _NO_CHOICES).where(
        OptionTally.poll_id == _POLL
    ),
    select(literal(None, Integer), PollTally.voters, _NO_CHOICES).where(PollTally.poll_id == _POLL),
)
CURRENT_TALLIES = union_all(
    *_FOLDED,
    select(TallyEntry.option_id, TallyEntry.delta, _NO_CHOICES).where(
        TallyEntry.poll_id == _POLL, TallyEntry.id > _folded_upto(ENTRIES)
    ),
    # A ballot not folded yet: one voter, and its first choices, counted in Python.
    select(literal(None, Integer), literal(1, Integer), Ballot.first_choices).where(
        Ballot.poll_id == _POLL, Ballot.id > _folded_upto(BALLOTS)
    ),
)


# Closed polls' results read it alone, outside any transaction: one round trip. A closed
# poll takes no more ballots, so what is left unfolded is at most its last moment's.
CURRENT_TALLIES_NOW = HotStatement(CURRENT_TALLIES)
# An open poll's results: the folded tallies, and what of the reader's own ballot the
# aggregator has not folded yet (the ballot, its changes), so that "your vote was
# counted" shows it as it is now. A few rows, however many vote at the moment: reading
# never grows with the rate of voting. Other voters' newest votes show at the next
# fold, within a second.
_OWN_BALLOT = and_(Ballot.receipt == bindparam("receipt"), Ballot.poll_id == _POLL)
FOLDED_TALLIES_NOW = HotStatement(
    union_all(
        *_FOLDED,
        select(literal(None, Integer), literal(1, Integer), Ballot.first_choices).where(
            _OWN_BALLOT, Ballot.id > _folded_upto(BALLOTS)
        ),
        select(TallyEntry.option_id, TallyEntry.delta, _NO_CHOICES)
        .join(Ballot, Ballot.id == TallyEntry.ballot_id)
        .where(_OWN_BALLOT, TallyEntry.id > _folded_upto(ENTRIES)),
    )
)


def _added_up(rows) -> tuple[int, dict[int, int]]:
    totals: Counter = Counter()
    for option_id, amount, first_choices in rows:
        totals[option_id] += amount
        if first_choices:
            totals.update(first_choices)
    return totals.pop(None, 0), dict(totals)


def current_tallies(session: Session, poll_id: int) -> tuple[int, dict[int, int]]:
    """Voters and votes per option as of now, in the session's transaction: the folded
    tallies plus the ballots and entries not folded yet, read in one statement so that a
    fold committing meanwhile cannot make a vote count twice or not at all."""
    return _added_up(session.execute(CURRENT_TALLIES, {"poll_id": poll_id}))


def results(
    session: Session,
    poll: Poll | PublishedPoll,
    state: str,
    final: bool,
    own_receipt: str | None = None,
) -> dict:
    """Counts and shares per option, the number of voters and how they were verified;
    `final` once the closed poll was recounted from its ballots. Read as committed now,
    outside the session's transaction: while the poll is open, as folded, with the
    ballot of `own_receipt` (the reader's) whether folded yet or not; once it is
    closed, every ballot."""
    if state in ("closed", "archived"):
        rows = CURRENT_TALLIES_NOW.all(engine_of(session), {"poll_id": poll.id})
    else:
        rows = FOLDED_TALLIES_NOW.all(
            engine_of(session), {"poll_id": poll.id, "receipt": own_receipt}
        )
    voters, per_option = _added_up(rows)
    return results_of(poll, state, final, voters, per_option)


# The page that says "your vote was counted" right after a new ballot went in (an email
# vote's Confirm, a hundred and more a second) reads the folded tallies at most once per
# FOLDED_KEPT_SECONDS per poll in a process, with the ballots' watermark of that read:
# the new ballot is added unless that read holds it already. Other voters' newest votes
# show at the next fold and read: 0.4 s later than on a results page at most.
FOLDED_KEPT_SECONDS = 0.4
_WATERMARK_ROW = -1  # no option has this id: the row's amount is the ballots' watermark
FOLDED_AS_OF = HotStatement(
    union_all(
        *_FOLDED,
        select(literal(_WATERMARK_ROW, Integer), _folded_upto(BALLOTS), _NO_CHOICES),
    )
)
_folded_read: dict[int, tuple[float, int, int, dict[int, int]]] = {}  # by poll id
FOLDED_READS_KEPT = 1024  # polls; past that, all are forgotten (each read again)


def results_with_new_ballot(
    session: Session, poll: Poll | PublishedPoll, ballot_id: int, first_choices: Iterable[int]
) -> dict:
    """An open poll's results (as `results`) beside a ballot just inserted, never
    changed, its own vote counted once whether the aggregator folded it yet or not."""
    read = _folded_read.get(poll.id)
    if read is None or time.monotonic() - read[0] > FOLDED_KEPT_SECONDS:
        rows = FOLDED_AS_OF.all(engine_of(session), {"poll_id": poll.id})
        watermark = next(amount for option, amount, _ in rows if option == _WATERMARK_ROW)
        voters, per_option = _added_up(row for row in rows if row[0] != _WATERMARK_ROW)
        if len(_folded_read) >= FOLDED_READS_KEPT:
            _folded_read.clear()
        read = _folded_read[poll.id] = (time.monotonic(), watermark, voters, per_option)
    _, watermark, voters, per_option = read
    if ballot_id > watermark:  # not folded when the tallies were read
        voters, per_option = voters + 1, Counter(per_option)
        per_option.update(first_choices)
    return results_of(poll, "open", False, voters, per_option)


def forget_folded_reads() -> None:
    """Drop the folded tallies read for new ballots' pages (tests empty the tables, and
    poll ids come again)."""
    _folded_read.clear()


def results_of(
    poll: Poll | PublishedPoll, state: str, final: bool, voters: int, per_option: dict
) -> dict:
    """The results as `results` answers them, from the voters and votes per option."""
    options = []
    for option in poll.options:
        votes = per_option.get(option.id, 0)
        options.append(
            {
                "id": option.id,
                "label": option.label,
                "votes": votes,
                "percent": round(100 * votes / voters, 1) if voters else 0.0,
            }
        )
    return {
        "poll_id": poll.id,
        "question": poll.question,
        "state": state,
        "voters": voters,
        "verification": poll.method,
        "final": final,
        "options": options,
    }
