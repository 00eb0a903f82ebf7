"""Times given with an offset mean the instant they name, on every database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.common.timeutil import utcnow
from tests.polls.conftest import new_poll, option_ids

pytestmark = pytest.mark.usefixtures("councils")


def instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value  # RFC 3339, and in UTC
    return moment


def test_opening_and_closing_times_given_in_plus_five_come_back_in_utc(client, people):
    draft = new_poll(
        client,
        people,
        publish=False,
        opens_at="2030-01-01T12:00:00+05:00",
        closes_at="2030-01-02T12:00:00+05:00",
    )
    read = client.get(f"/api/polls/polls/{draft['id']}", headers=people.moderator())
    assert read.status_code == 200
    for poll in (draft, read.json):
        assert instant(poll["opens_at"]) == datetime(2030, 1, 1, 7, 0, tzinfo=UTC)
        assert instant(poll["closes_at"]) == datetime(2030, 1, 2, 7, 0, tzinfo=UTC)


def test_a_poll_closing_in_an_hour_given_in_minus_five_takes_votes(client, people):
    """Its wall clock (an hour from now, minus five) is four hours ago in UTC: read as a
    wall clock it would have closed already, and the database would refuse the vote."""
    closes = (utcnow() + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5)))
    poll = new_poll(client, people, method="account", closes_at=closes.isoformat())
    assert poll["state"] == "open"
    assert instant(poll["closes_at"]) == closes
    voted = client.post(
        f"/api/polls/polls/{poll['id']}/votes",
        json={"choices": option_ids(poll)[:1]},
        headers=people.resident(),
    )
    assert voted.status_code == 201, voted.json
