"""Polls tests: councils in auth, people with tokens, and a poll ready to vote in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from services.auth.messaging.outbox import deliver_due
from services.auth.models import db as auth_db
from services.common.timeutil import utcnow
from services.polls.models import Poll, TallyEntry
from services.polls.models import db as polls_db
from services.polls.tallies import fold_votes
from tests.auth.helpers import link_token, messages, page_form
from tests.support.smtp import smtp_server  # noqa: F401 - a fixture

QUESTION = "Звідки ви дізнаєтеся про події в громаді?"
OPTIONS = ["Сайт громади", "Facebook", "Telegram", "Оголошення на дошці"]


def new_poll(client, people, council="kyiv", publish=True, **settings) -> dict:
    """A poll created by the council's moderator (and published unless told otherwise)."""
    moderator = people.moderator(council)
    created = client.post(
        "/api/polls/polls",
        json={"council": council, "question": QUESTION, "options": OPTIONS, **settings},
        headers=moderator,
    )
    assert created.status_code == 201, created.json
    if publish:
        published = client.post(f"/api/polls/polls/{created.json['id']}/publish", headers=moderator)
        assert published.status_code == 200, published.json
        return published.json
    return created.json


def option_ids(poll: dict) -> list[int]:
    return [option["id"] for option in poll["options"]]


def fold(polls_app) -> int:
    """Fold every ballot and entry now, as the aggregator would once they settled."""
    with polls_app.app_context():
        for table in ("ballots", "tally_entries"):
            polls_db.session.execute(
                update(polls_db.Model.metadata.tables[table]).values(
                    created_at=utcnow() - timedelta(seconds=5)
                )
            )
        polls_db.session.commit()
        try:
            return fold_votes(polls_db.session)
        finally:
            polls_db.session.remove()


def tally_entries(polls_app) -> list[tuple[int | None, int]]:
    """Every tally entry, oldest first: (option id, delta)."""
    with polls_app.app_context():
        try:
            return [
                tuple(row)
                for row in polls_db.session.execute(
                    select(TallyEntry.option_id, TallyEntry.delta).order_by(TallyEntry.id)
                )
            ]
        finally:
            polls_db.session.remove()


def shift_poll(polls_app, poll_id: int, **times) -> None:
    """Move a poll's stored times (opens_at, closes_at, closed_at) as if time passed."""
    with polls_app.app_context():
        polls_db.session.execute(update(Poll).where(Poll.id == poll_id).values(**times))
        polls_db.session.commit()
        polls_db.session.remove()


def request_email_vote(client, poll_id: int, choices: list[int], email="voter@example.org", **kw):
    return client.post(
        f"/api/polls/polls/{poll_id}/email-votes",
        json={"email": email, "choices": choices, **kw},
    )


def confirmation_token(auth_app, email="voter@example.org") -> str:
    """The token in the newest confirmation email auth queued for `email`."""
    return link_token(messages(auth_app, email, "confirm_for_service")[-1].text_body)


def confirm_in_browser(client, token: str):
    """What the voter's browser does: open the link, press Confirm (the page's form)."""
    page = client.get(f"/api/auth/verify?token={token}")
    assert page.status_code == 200, page.get_data(as_text=True)
    action, fields = page_form(page.get_data(as_text=True))
    return client.post(action, data=fields)


def deliver(auth_app, overrides: dict | None = None) -> dict:
    with auth_app.app_context():
        try:
            return deliver_due(auth_db.session, {**auth_app.config, **(overrides or {})})
        finally:
            auth_db.session.remove()
