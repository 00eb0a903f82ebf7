"""Results that never block voting: tally entries folded in batches, reconciled at close.

A vote appends entries (+1 per chosen option, +1 voter; a changed vote -1 for what it
replaced); `fold_entries` adds them to the option and poll tallies in one grouped query
per batch. When a poll has closed, `reconcile_closed` recounts it from the ballots, the
ground truth, and marks its results final.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import Integer, bindparam, func, literal, select, union_all
from sqlalchemy.orm import Session

from services.common.folding import add_to_count, claim_settled
from services.common.timeutil import utcnow

from .lifecycle import PublishedPoll
from .models import Ballot, FoldWatermark, OptionTally, Poll, PollTally, TallyEntry

STREAM = "tally-entries"
# A vote whose transaction began just before closing may commit just after; by this
# long after closing every such vote is in, and the recount is final.
RECONCILE_AFTER_CLOSE = timedelta(seconds=5)


def entries_for(
    poll_id: int, added: list[int], removed: list[int] = (), voter: int = 0
) -> list[dict]:
    """Tally entry rows for a vote: +1 per added option, -1 per removed one, ±1 voter
    (an entry with no option)."""
    now = utcnow()
    deltas = [(o, 1) for o in added] + [(o, -1) for o in removed]
    if voter:
        deltas.append((None, voter))
    return [
        {"poll_id": poll_id, "option_id": option, "delta": delta, "created_at": now}
        for option, delta in deltas
    ]


def _add_to_option(session: Session, poll_id: int, option_id: int, delta: int) -> None:
    add_to_count(session, OptionTally, {"option_id": option_id}, "votes", delta, poll_id=poll_id)


def _add_voters(session: Session, poll_id: int, delta: int) -> None:
    add_to_count(session, PollTally, {"poll_id": poll_id}, "voters", delta, updated_at=utcnow())


def fold_entries(session: Session) -> int:
    """Fold settled new entries into the tallies; the number of entries folded."""
    claimed = claim_settled(session, FoldWatermark, STREAM, TallyEntry.id, TallyEntry.created_at)
    if claimed is None:
        session.commit()
        return 0
    mark, after, upto = claimed
    sums = session.execute(
        select(
            TallyEntry.poll_id,
            TallyEntry.option_id,
            func.sum(TallyEntry.delta),
            func.count(TallyEntry.id),
        )
        .where(TallyEntry.id > after, TallyEntry.id <= upto)
        .group_by(TallyEntry.poll_id, TallyEntry.option_id)
    ).all()
    for poll_id, option_id, delta, _ in sums:
        if option_id is None:
            _add_voters(session, poll_id, delta)
        else:
            _add_to_option(session, poll_id, option_id, delta)
    mark.last_id = upto
    session.commit()
    return sum(count for *_, count in sums)


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
    fold_entries(session)  # everything settled is in the tallies before comparing
    due = session.scalars(
        select(Poll).where(
            Poll.state.in_(("closed", "archived")),
            Poll.reconciled_at.is_(None),
            Poll.closed_at <= utcnow() - RECONCILE_AFTER_CLOSE,
        )
    ).all()
    for poll in due:
        # Hold the fold off while comparing, so no entry is counted twice.
        claim_settled(session, FoldWatermark, STREAM, TallyEntry.id, TallyEntry.created_at)
        reconcile(session, poll)
        poll.reconciled_at = utcnow()
        session.commit()
    return len(due)


def reconcile(session: Session, poll: Poll) -> bool:
    """Correct the poll's tallies to its ballots (call with the watermark locked); whether
    anything was off. Entries not folded yet are allowed for: they will still be added."""
    mark = session.get(FoldWatermark, STREAM)
    unfolded = dict(
        session.execute(
            select(TallyEntry.option_id, func.sum(TallyEntry.delta))
            .where(TallyEntry.poll_id == poll.id, TallyEntry.id > (mark.last_id if mark else 0))
            .group_by(TallyEntry.option_id)
        ).all()
    )
    voters, per_option = recount(session, poll)
    stored_voters, stored = stored_tallies(session, poll)
    off = False
    voters_delta = voters - stored_voters - unfolded.get(None, 0)
    if voters_delta:
        _add_voters(session, poll.id, voters_delta)
        off = True
    for option in poll.options:
        delta = per_option[option.id] - stored.get(option.id, 0) - unfolded.get(option.id, 0)
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


# Built once: results are read on every results request and every vote-counted page.
_FOLDED_UPTO = (
    select(func.coalesce(func.max(FoldWatermark.last_id), 0))
    .where(FoldWatermark.name == STREAM)
    .scalar_subquery()
)
_POLL = bindparam("poll_id")
CURRENT_TALLIES = union_all(
    select(OptionTally.option_id, OptionTally.votes).where(OptionTally.poll_id == _POLL),
    select(literal(None, Integer), PollTally.voters).where(PollTally.poll_id == _POLL),
    select(TallyEntry.option_id, TallyEntry.delta).where(
        TallyEntry.poll_id == _POLL, TallyEntry.id > _FOLDED_UPTO
    ),
)


def current_tallies(session: Session, poll_id: int) -> tuple[int, dict[int, int]]:
    """Voters and votes per option as of now: the folded tallies plus the entries not
    folded yet, read in one statement so that a fold committing meanwhile cannot make
    an entry count twice or not at all."""
    totals: Counter = Counter()
    for option_id, amount in session.execute(CURRENT_TALLIES, {"poll_id": poll_id}):
        totals[option_id] += amount
    return totals.pop(None, 0), dict(totals)


def results(session: Session, poll: Poll | PublishedPoll, state: str, final: bool) -> dict:
    """Counts and shares per option, the number of voters and how they were verified;
    `final` once the closed poll was recounted from its ballots."""
    voters, per_option = current_tallies(session, poll.id)
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
