"""Voting: one ballot per person and poll, guarded by the database's unique constraints.

By account: a signed-in resident's vote counts at once (`vote_with_account`).
By email (the seed's "confirm your vote via E-Mail to avoid falsification"): the vote
waits as a PendingVote while auth emails a link (`request_email_vote`); the link's page
(auth's) carries a proof with a keyed hash of the address, never the address, and its
Confirm button POSTs it here; `confirm_email_vote` counts the vote once for that hash.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from flask import current_app
from flask_babel import gettext
from sqlalchemy import bindparam, delete, exists, insert, literal, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.common.caching import forget_public_reads
from services.common.client import ServiceUnavailable, call_service
from services.common.db import HotStatement, engine_of, group_insert_if
from services.common.errors import NotFound
from services.common.gathering import Gatherings
from services.common.hashing import mailbox_hash
from services.common.policies import kept_policy
from services.common.receipts import new_receipt
from services.common.throttle import app_throttle
from services.common.timeutil import utcnow
from services.common.tokens import Principal

from .errors import (
    AlreadyVoted,
    DisposableEmail,
    InvalidChoice,
    LinkExpired,
    LinkUsed,
    TooManyVotes,
    VerificationNeeded,
    WrongMethod,
    WrongState,
)
from .lifecycle import PublishedPoll, effective_state, get_poll, published_poll
from .models import Ballot, CouncilPolicy, PendingVote, Poll, TallyEntry
from .tallies import entries_for

PENDING_TTL = timedelta(days=1)
EMAIL_PURPOSE = "poll-vote:"  # and the poll's id: what auth's proof confirms the address for
CONFIRM_PATH = "/api/polls/votes/confirm"


def check_choices(poll: Poll | PublishedPoll, choices: list[int]) -> list[int]:
    """The chosen option ids, checked against the poll: known, distinct, not too many."""
    known = (
        poll.option_ids
        if isinstance(poll, PublishedPoll)
        else {option.id for option in poll.options}
    )
    if not choices:
        raise InvalidChoice(errors={"choices": [gettext("Choose an answer.")]})
    if len(set(choices)) != len(choices) or not set(choices) <= known:
        raise InvalidChoice(errors={"choices": [gettext("This answer is not in the poll.")]})
    if len(choices) > poll.max_choices:
        too_many = (
            gettext("Choose one answer.")  # not "at most 1 answers"
            if poll.max_choices == 1
            else gettext("Choose at most %(count)d answers.", count=poll.max_choices)
        )
        raise InvalidChoice(errors={"choices": [too_many]})
    return sorted(choices)


def require_open(poll: Poll) -> None:
    state = effective_state(poll)
    if state == "scheduled":
        raise WrongState(gettext("This poll has not opened yet."))
    if state != "open":
        raise WrongState(gettext("This poll is not open for voting."))


# The hot statements, built once: building them per vote costs more than running them.
# The database says whether the poll is open now: a poll closed a moment ago in another
# process takes no more votes, whatever this process remembers of it.
def _open_at(poll_id, moment):
    """The poll takes votes at `moment`."""
    return exists().where(
        Poll.id == poll_id,
        # Not IN (…): an expanding parameter is compiled again on every execution.
        or_(Poll.state == "scheduled", Poll.state == "open"),
        or_(Poll.opens_at.is_(None), Poll.opens_at <= moment),
        or_(Poll.closes_at.is_(None), Poll.closes_at > moment),
    )


# The ballot is the whole vote: the aggregator folds it (services.polls.tallies). Votes
# by account arriving at the same moment go in together (GroupInsert), on PostgreSQL.
_BALLOT_COLUMNS = (
    "poll_id",
    "voter_hash",
    "user_id",
    "method",
    "choices",
    "first_choices",
    "receipt",
    "version",
    "created_at",
)
BALLOTS = group_insert_if(
    Ballot.__table__,
    _BALLOT_COLUMNS,
    lambda row: _open_at(row.poll_id, row.created_at),
    key="receipt",
)
INSERT_ENTRIES = insert(TallyEntry.__table__)
# An email vote is asked for and read back by one statement each, outside any
# transaction: the pending vote's row is all that changes until it is confirmed.
_PENDING_COLUMNS = ("id", "poll_id", "choices", "status", "created_at", "expires_at")
# Written only while the poll takes votes, the open check and the write one statement
# (no row back: the poll is not open, `_refuse_closed` says why); voters asking at the
# same moment go in together (GroupInsert), on PostgreSQL.
PENDING_VOTES = group_insert_if(
    PendingVote.__table__,
    _PENDING_COLUMNS,
    lambda row: _open_at(row.poll_id, row.created_at),
    key="id",
)
PENDING_VOTE = HotStatement(
    select(
        PendingVote.poll_id,
        PendingVote.status,
        PendingVote.receipt,
        PendingVote.expires_at,
        PendingVote.choices,
    ).where(PendingVote.id == bindparam("pending_id"))
)
# A pending vote whose email auth refused to queue: it never had a link.
FORGET_PENDING = HotStatement(
    delete(PendingVote.__table__)
    .where(PendingVote.id == bindparam("pending_id"), PendingVote.status == "pending")
    .returning(PendingVote.__table__.c.id)
)
# A pending vote is settled once (confirmed, refused or cancelled): the status moves only
# from "pending", so of two tabs confirming at once, one counts.
_pending = PendingVote.__table__.c
SETTLE_PENDING = (
    update(PendingVote.__table__)
    .where(_pending.id == bindparam("pending_id"), _pending.status == "pending")
    .values(status=bindparam("outcome"), settled_at=bindparam("at"), receipt=bindparam("receipt"))
)

# On PostgreSQL a confirmation that counts is one statement: the pending vote settles
# and its ballot goes in together (data-modifying CTEs), or neither does (the address
# has voted: a unique key). No row back: the step-by-step path below says why.
_settled = (
    update(PendingVote.__table__)
    .where(
        _pending.id == bindparam("pending_id"),
        _pending.poll_id == bindparam("poll_id"),
        _pending.status == "pending",
        _pending.expires_at >= bindparam("now"),
        _open_at(bindparam("poll_id"), bindparam("now")),
    )
    .values(status="confirmed", settled_at=bindparam("now"), receipt=bindparam("receipt"))
    .returning(_pending.poll_id, _pending.choices)
    .cte("settled")
)
_counted = (
    insert(Ballot.__table__)
    .from_select(
        _BALLOT_COLUMNS,
        select(
            _settled.c.poll_id,
            bindparam("voter_hash", type_=Ballot.__table__.c.voter_hash.type),
            null(),
            literal("email"),
            _settled.c.choices,
            _settled.c.choices,
            bindparam("receipt", type_=Ballot.__table__.c.receipt.type),
            literal(1),
            bindparam("now", type_=Ballot.__table__.c.created_at.type),
        ),
    )
    .returning(Ballot.__table__.c.receipt, Ballot.__table__.c.id, Ballot.__table__.c.first_choices)
    .cte("counted")
)
CONFIRM_AND_COUNT = HotStatement(
    select(_counted.c.receipt, _counted.c.id, _counted.c.first_choices)
)


def _cast(
    session: Session,
    poll: Poll | PublishedPoll,
    *,
    method: str,
    choices: list[int],
    voter_hash: str | None,
    user_id: str | None,
    settle: Callable[[str], None] | None = None,
) -> str:
    """Insert the ballot, or change an existing ballot where the poll allows it; the
    receipt. Without `settle`, a new ballot is one statement in autocommit, outside the
    session; `settle(receipt)` runs in the same transaction as the ballot, just before
    it commits."""
    receipt = new_receipt()
    ballot = {
        "poll_id": poll.id,
        "voter_hash": voter_hash,
        "user_id": user_id,
        "method": method,
        "choices": choices,
        "first_choices": choices,
        "receipt": receipt,
        "version": 1,
        "created_at": utcnow(),
    }
    try:
        if settle:  # on the session's connection: the ORM has no part in these statements
            inserted = (
                session.connection().execute(BALLOTS.alone.statement, ballot).first() is not None
            )
        else:
            inserted = BALLOTS.insert(engine_of(session), ballot)
    except IntegrityError:
        session.rollback()  # and the change below reads the ballot afresh
    else:
        if not inserted:
            _refuse_closed(session, poll.id)
        if settle:
            settle(receipt)
            session.commit()
        else:
            forget_public_reads()  # as the session's commit would have
        return receipt
    if not poll.allow_change:
        raise AlreadyVoted(gettext("You have voted in this poll already."))
    return _change(
        session, poll, choices=choices, voter_hash=voter_hash, user_id=user_id, settle=settle
    )


def _change(
    session: Session,
    poll: Poll | PublishedPoll,
    *,
    choices: list[int],
    voter_hash: str | None,
    user_id: str | None,
    settle: Callable[[str], None] | None,
) -> str:
    """The last vote counts: swap the ballot's choices, with compensating entries (its
    voter is counted already)."""
    ballot = session.scalar(
        select(Ballot).where(
            Ballot.poll_id == poll.id,
            (Ballot.user_id == user_id) if user_id else (Ballot.voter_hash == voter_hash),
        )
    )
    if ballot is None:  # the other unique key matched: the same person, another account
        if poll.method == "account+phone":
            raise AlreadyVoted(gettext("Someone with this phone number has voted already."))
        raise AlreadyVoted(gettext("Someone with this email address has voted already."))
    old = list(ballot.choices)
    changed = session.execute(
        update(Ballot)
        .where(Ballot.id == ballot.id, Ballot.version == ballot.version)
        .values(choices=choices, version=ballot.version + 1, changed_at=utcnow())
    ).rowcount
    if changed != 1:  # another change of the same ballot won the race
        session.rollback()
        raise AlreadyVoted(gettext("Your vote was changed a moment ago. Reload and try again."))
    added = [o for o in choices if o not in old]
    removed = [o for o in old if o not in choices]
    if added or removed:
        session.execute(INSERT_ENTRIES, entries_for(poll.id, ballot.id, added, removed))
    if settle:
        settle(ballot.receipt)
    session.commit()
    return ballot.receipt


def vote_with_account(session: Session, actor: Principal, poll_id: int, choices: list) -> str:
    """A signed-in resident votes; counted at once. The receipt."""
    poll = published_poll(session, poll_id)
    if poll is None:  # a draft: unseen (404) but by its council's people (409)
        get_poll(session, poll_id, actor)
        raise WrongState(gettext("This poll is not open for voting."))
    if poll.method == "email":
        raise WrongMethod(gettext("This poll takes votes confirmed by email."))
    # One ballot per person: per mailbox (one mailbox's +tag accounts are one voter),
    # or where the poll asks for a phone, per phone.
    if not actor.email_hash:
        raise VerificationNeeded(gettext("Confirm your email address before voting."))
    voter_hash = actor.email_hash
    if poll.method == "account+phone":
        if not actor.phone_hash:
            raise VerificationNeeded(gettext("Verify your phone number before voting."))
        voter_hash = actor.phone_hash
    return _cast(
        session,
        poll,
        method=poll.method,
        choices=check_choices(poll, choices),
        voter_hash=voter_hash,
        user_id=actor.user_id,
    )


def _throttle(email: str, client: str) -> None:
    config = current_app.config
    throttle = app_throttle(
        current_app,
        "email-votes",
        {
            "email-vote-client": config["EMAIL_VOTE_LIMIT_PER_CLIENT"],
            "email-vote-address": config["EMAIL_VOTE_LIMIT_PER_ADDRESS"],
        },
    )
    address = mailbox_hash(current_app.config["HASH_KEY"], email)
    for name, key in (("email-vote-client", client), ("email-vote-address", address)):
        wait = throttle.hit(name, key)
        if wait:
            raise TooManyVotes(
                gettext("Too many votes were asked for. Try again later."),
                headers={"Retry-After": str(wait)},
            )


@dataclass(frozen=True)
class PendingReceipt:
    id: str  # secret: whoever holds it may cancel the vote
    expires_at: datetime


def _refuse_closed(session: Session, poll_id: int) -> NoReturn:
    session.rollback()
    require_open(session.get(Poll, poll_id))  # says why: not yet, or no longer
    raise WrongState(gettext("This poll is not open for voting."))


def request_email_vote(
    session: Session, poll_id: int, *, email: str, choices: list, locale: str, client: str
) -> PendingReceipt:
    """Have auth email the confirmation link, and keep the vote pending until it is used."""
    poll = published_poll(session, poll_id)
    if poll is None:  # a draft, or nothing: either way nobody votes here
        raise NotFound(gettext("There is no such poll."))
    if poll.method != "email":
        raise WrongMethod(gettext("Sign in to vote in this poll."))
    choices = check_choices(poll, choices)
    policy = kept_policy(session, CouncilPolicy, poll.council)
    if policy.block_disposable_email and email.rsplit("@", 1)[-1] in DISPOSABLE_DOMAINS:
        raise DisposableEmail(
            errors={"email": [gettext("Use a permanent address, not a disposable one.")]}
        )
    _throttle(email, client)

    # The pending vote is written before auth is asked: once auth has queued the email,
    # its link can be pressed at once (a busy moment here, a quick reader there), and
    # it must find the vote. Auth is told of it by this id, the verification's subject.
    now = utcnow()
    receipt = PendingReceipt(id=secrets.token_urlsafe(32), expires_at=now + PENDING_TTL)
    written = PENDING_VOTES.insert(
        engine_of(session),
        {
            "id": receipt.id,
            "poll_id": poll.id,
            "choices": choices,
            "status": "pending",
            "created_at": now,
            "expires_at": receipt.expires_at,
        },
    )
    if not written:
        _refuse_closed(session, poll.id)
    answer = _ask_auth_to_verify(
        {
            "email": email,
            "purpose": f"{EMAIL_PURPOSE}{poll.id}",
            "subject": receipt.id,
            "locale": locale,
            "return_url": current_app.config["PUBLIC_URL"] + CONFIRM_PATH,
            "context": {
                # Where its link's page leads once the link is used or expired.
                "page": f"{current_app.config['PUBLIC_URL']}/polls/{poll.id}",
                "question": poll.question[:500],
                "choice": "; ".join(poll.labels[c] for c in choices)[:500],
            },
        }
    )
    if answer is None:
        # No answer (a timeout, a dropped connection): auth may well have queued the
        # email, and its link must then find the vote. The pending vote stays; it counts
        # nowhere until confirmed, and expires unconfirmed if no email went out.
        raise ServiceUnavailable(
            gettext(
                "We could not tell whether the confirmation email was sent. "
                "If it does not arrive within a few minutes, try again."
            )
        )
    if answer.status != 202:
        # Auth refused it: no email was queued, the vote has no link, and nothing is
        # kept of it. (Should this fail too, it is one more pending vote that expires.)
        FORGET_PENDING.first(engine_of(session), {"pending_id": receipt.id})
        if answer.status == 429:
            raise TooManyVotes(
                answer.body.get("detail"),
                headers={"Retry-After": str(answer.body.get("retry_after", 3600))},
            )
        raise ServiceUnavailable(gettext("The confirmation email could not be sent. Try again."))
    return receipt


@dataclass(frozen=True)
class AuthAnswer:
    """auth's answer to one verification request: 202 and the verification's `id`, or
    a refusal's status and problem (429 with `retry_after`)."""

    status: int
    body: dict


# Voters who ask at the same moment are handed to auth together, one call for all of
# them (auth answers each on its own): at the email flow's concurrency, the call's own
# cost was most of what asking auth cost. One line per app (its config says where auth is).
VERIFICATIONS_AT_ONCE = 64  # auth takes as many in one request


def _ask_auth_to_verify(request: dict) -> AuthAnswer | None:
    """auth's answer to a verification request, asked with any others that arrive
    meanwhile; None when auth could not be asked."""
    answer = _verification_lines[current_app._get_current_object()](request)
    return _ask_alone(request) if answer is _ASK_ALONE else answer


_ASK_ALONE = object()  # the batch was refused whole: each request is asked on its own


def _ask_together(requests: list[dict]) -> list:
    if len(requests) == 1:
        return [_ask_alone(requests[0])]
    try:
        answer = call_service(
            "auth",
            "POST",
            "/internal/email-verifications/batch",
            internal=True,
            json={"requests": requests},
        )
    except ServiceUnavailable:
        return [None] * len(requests)
    if answer.status != 200:  # one request it would not take: each is told why alone
        return [_ASK_ALONE] * len(requests)
    return [AuthAnswer(found["status"], found) for found in answer.json()["results"]]


_verification_lines = Gatherings(_ask_together, VERIFICATIONS_AT_ONCE)


def _ask_alone(request: dict) -> AuthAnswer | None:
    try:
        answer = call_service(
            "auth", "POST", "/internal/email-verifications", internal=True, json=request
        )
    except ServiceUnavailable:
        return None
    if answer.status == 202:
        return AuthAnswer(202, answer.json())
    if answer.status == 429:
        retry_after = int(answer.headers.get("Retry-After", "3600"))
        return AuthAnswer(429, {**answer.json(), "retry_after": retry_after})
    return AuthAnswer(answer.status, {})


def poll_named_by(session: Session, claims: dict) -> PublishedPoll | None:
    """The published poll a verified proof is about; None when it names none."""
    poll_id = str(claims.get("purpose", "")).removeprefix(EMAIL_PURPOSE)
    if not (poll_id.isascii() and poll_id.isdigit() and len(poll_id) < 10):
        return None
    return published_poll(session, int(poll_id))


@dataclass(frozen=True)
class CountedVote:
    """A confirmed email vote: its receipt, and the ballot when it is a new one that went
    in by the one-statement path (its id and first choices, which its thank-you page
    adds to the folded tallies)."""

    receipt: str
    ballot_id: int | None = None
    first_choices: tuple[int, ...] = ()


def confirm_email_vote(session: Session, claims: dict, poll: PublishedPoll | None) -> CountedVote:
    """Count, once, the pending vote a verified proof's `claims` name in `poll` (the one
    `poll_named_by` found)."""
    pending_id = str(claims.get("sub"))
    if poll is not None and engine_of(session).dialect.name == "postgresql":
        counted = _confirm_and_count(session, poll, pending_id, str(claims["email_hash"]))
        if counted:
            return counted
    pending = PENDING_VOTE.first(engine_of(session), {"pending_id": pending_id})
    # Whether the poll is still open, the ballot's INSERT checks.
    if pending is None or poll is None or pending[0] != poll.id:
        raise NotFound(gettext("There is no such vote."))
    _, status, counted_receipt, expires_at, choices = pending
    if status == "confirmed":
        raise LinkUsed(gettext("This vote was confirmed already."), receipt=counted_receipt)
    if status != "pending":
        raise LinkUsed(gettext("This vote can no longer be confirmed. Vote again."))
    if expires_at < utcnow():
        raise LinkExpired(gettext("This vote has expired. Vote again."))

    def settle(receipt: str) -> None:
        settled = (
            session.connection()
            .execute(
                SETTLE_PENDING,
                {
                    "pending_id": pending_id,
                    "outcome": "confirmed",
                    "at": utcnow(),
                    "receipt": receipt,
                },
            )
            .rowcount
        )
        if settled != 1:
            session.rollback()
            raise LinkUsed(gettext("This vote was confirmed already."))

    try:
        receipt = _cast(
            session,
            poll,
            method="email",
            choices=list(choices),
            voter_hash=str(claims["email_hash"]),
            user_id=None,
            settle=settle,
        )
    except AlreadyVoted as refused:
        session.execute(
            SETTLE_PENDING,
            {"pending_id": pending_id, "outcome": "refused", "at": utcnow(), "receipt": None},
        )
        session.commit()
        _used_links.append(pending_id)
        raise AlreadyVoted(
            gettext("A vote with this email address was counted already.")
        ) from refused
    _used_links.append(pending_id)
    return CountedVote(receipt)


def _confirm_and_count(
    session: Session, poll: PublishedPoll, pending_id: str, voter_hash: str
) -> CountedVote | None:
    """The vote counted by CONFIRM_AND_COUNT; None when it counted none."""
    receipt = new_receipt()
    params = {
        "pending_id": pending_id,
        "poll_id": poll.id,
        "voter_hash": voter_hash,
        "receipt": receipt,
        "now": utcnow(),
    }
    try:
        counted = CONFIRM_AND_COUNT.first(engine_of(session), params)
    except IntegrityError:  # the address has voted: nothing changed
        return None
    if counted is None:
        return None
    forget_public_reads()  # as a session's commit would have
    _used_links.append(pending_id)
    _, ballot_id, first_choices = counted
    return CountedVote(receipt, ballot_id, tuple(first_choices))


# The pending votes (their verifications' subjects) whose proof this process acted on,
# until auth hears of them (a job, once a second). Kept in memory: should the process
# stop first, their links' pages offer the button until they expire, and pressing it
# says the vote was counted.
_used_links: deque[str] = deque(maxlen=100_000)
USED_LINKS_AT_ONCE = 500  # auth takes as many in one request


def tell_auth_links_used() -> int:
    """Tell auth which links were used here, so that their pages say so; how many.
    Auth unreachable, they wait for the next run."""
    told = 0
    while _used_links:
        batch = [_used_links.popleft() for _ in range(min(len(_used_links), USED_LINKS_AT_ONCE))]
        heard = False
        try:
            heard = call_service(
                "auth",
                "POST",
                "/internal/email-verifications/settled",
                internal=True,
                json={"subjects": batch},
            ).ok
        except ServiceUnavailable:
            pass
        finally:
            if not heard:  # whatever went wrong, they wait for the next run
                _used_links.extend(batch)
        if not heard:
            current_app.logger.warning("auth was not told of %d used links", len(batch))
            break
        told += len(batch)
    return told


def cancel_pending(session: Session, pending_id: str) -> None:
    """The voter withdraws a vote they have not confirmed; the link stops working."""
    cancelled = session.execute(
        SETTLE_PENDING,
        {"pending_id": pending_id, "outcome": "cancelled", "at": utcnow(), "receipt": None},
    ).rowcount
    if cancelled != 1:
        session.rollback()
        raise NotFound(gettext("There is no pending vote to cancel."))
    session.commit()
    try:  # the link would be refused here anyway; this only tidies auth's side
        call_service(
            "auth",
            "POST",
            "/internal/email-verifications/cancel",
            internal=True,
            json={"subject": pending_id},
        )
    except ServiceUnavailable:
        current_app.logger.warning("could not withdraw the link of pending vote %s", pending_id)


def expire_pending(session: Session) -> int:
    """Pending votes older than a day expire; the number expired."""
    expired = session.execute(
        update(PendingVote)
        .where(PendingVote.status == "pending", PendingVote.expires_at < utcnow())
        .values(status="expired", settled_at=utcnow())
    ).rowcount
    session.commit()
    return expired


def voted(session: Session, poll: Poll, actor: Principal | None, receipt: str | None) -> bool:
    """Whether the caller (by account, or by a receipt they hold) has a ballot in the poll."""
    clauses = []
    if actor is not None:
        clauses.append(Ballot.user_id == actor.user_id)
    if receipt:
        clauses.append(Ballot.receipt == receipt)
    for clause in clauses:
        if session.scalar(select(Ballot.id).where(Ballot.poll_id == poll.id, clause)):
            return True
    return False
