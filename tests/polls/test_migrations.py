"""Migration 0004: ballots counted through entries before it are not counted again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select, update

from services.common.db import upgrade_database
from services.common.timeutil import utcnow
from services.common.tokens import Principal
from services.polls import create_app
from services.polls.lifecycle import forget_published_polls
from services.polls.models import (
    Ballot,
    FoldWatermark,
    Option,
    OptionTally,
    Poll,
    PollTally,
    TallyEntry,
)
from services.polls.models import db as polls_db
from services.polls.tallies import current_tallies, fold_votes, stored_tallies
from services.polls.voting import vote_with_account
from tests.conftest import database_url_for, recreate_database


def _legacy_ballot(session, poll_id: int, user_id: str, choices: list[int]) -> None:
    """A ballot as the code before 0004 wrote it (no first choices)."""
    values = {"poll_id": poll_id, "user_id": user_id, "method": "account", "receipt": user_id}
    session.execute(insert(Ballot.__table__).values(choices=choices, **values))


def _entries(session, poll_id: int, *deltas: tuple[int | None, int]) -> int:
    """Tally entries (option id or None for a voter, delta); the last one's id."""
    for option_id, delta in deltas:
        session.execute(
            insert(TallyEntry.__table__).values(poll_id=poll_id, option_id=option_id, delta=delta)
        )
    return session.scalar(select(func.max(TallyEntry.id)))


def test_ballots_from_before_0004_are_counted_once_after_it():
    url = database_url_for("polls", "upgrade")
    recreate_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    upgrade_database(app, "0003")
    forget_published_polls()  # poll ids here repeat those of other tests' databases
    try:
        with app.app_context():
            session = polls_db.session
            poll_id = session.scalar(
                insert(Poll.__table__)
                .values(council="kyiv", question="?", state="open", created_by="u0")
                .values(method="account", allow_change=True)
                .returning(Poll.id)
            )
            a, b, c = (
                session.scalar(
                    insert(Option.__table__)
                    .values(poll_id=poll_id, position=n, label=str(n))
                    .returning(Option.id)
                )
                for n in range(3)
            )
            # Before 0004, a vote was its ballot and entries: u1 and u2 voted a, folded...
            _legacy_ballot(session, poll_id, "u1", [a])
            _entries(session, poll_id, (a, 1), (None, 1))
            _legacy_ballot(session, poll_id, "u2", [b])  # as changed below
            folded = _entries(session, poll_id, (a, 1), (None, 1))
            session.execute(
                insert(FoldWatermark.__table__).values(name="tally-entries", last_id=folded)
            )
            session.execute(insert(PollTally.__table__).values(poll_id=poll_id, voters=2))
            session.execute(
                insert(OptionTally.__table__).values(option_id=a, poll_id=poll_id, votes=2)
            )
            # ...then u2 changed to b and u3 voted c, not folded yet.
            _entries(session, poll_id, (a, -1), (b, 1))
            _legacy_ballot(session, poll_id, "u3", [c])
            _entries(session, poll_id, (c, 1), (None, 1))
            session.commit()
            session.remove()

        upgrade_database(app)

        with app.app_context(), app.test_request_context("/"):
            session = polls_db.session
            assert current_tallies(session, poll_id) == (3, {a: 1, b: 1, c: 1})
            # After the upgrade: u4 votes b, u3 changes to a.
            for user_id, choices in (("u4", [b]), ("u3", [a])):
                person = Principal(
                    user_id=user_id, email_verified=True, email_hash=f"mailbox-{user_id}"
                )
                vote_with_account(session, person, poll_id, choices)
            session.remove()
            exact = (4, {a: 2, b: 2})
            assert _nonzero(current_tallies(session, poll_id)) == exact
            session.execute(update(Ballot).values(created_at=utcnow() - timedelta(seconds=5)))
            session.execute(update(TallyEntry).values(created_at=utcnow() - timedelta(seconds=5)))
            session.commit()
            # u4's ballot; the four entries of before, and the two of u3's change.
            assert fold_votes(session) == 7
            assert _nonzero(stored_tallies(session, session.get(Poll, poll_id))) == exact
            assert _nonzero(current_tallies(session, poll_id)) == exact
            session.remove()
    finally:
        forget_published_polls()
        with app.app_context():
            polls_db.engine.dispose()


def _nonzero(tallies: tuple[int, dict[int, int]]) -> tuple[int, dict[int, int]]:
    voters, per_option = tallies
    return voters, {option: votes for option, votes in per_option.items() if votes}
