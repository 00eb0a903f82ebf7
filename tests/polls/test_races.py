"""Changes made at once to one poll: one wins, the other is told (409), never a 500,
and never a poll both published and deleted."""

from __future__ import annotations

import pytest

from tests.polls.conftest import new_poll
from tests.support.concurrency import at_once

pytestmark = pytest.mark.usefixtures("councils")


def test_publishing_and_deleting_at_once_do_not_both_happen(gateway, client, people):
    moderator = people.moderator()
    for _ in range(3):
        poll = new_poll(client, people, publish=False)
        url = f"/api/polls/polls/{poll['id']}"
        published, deleted = at_once(
            gateway, [("POST", f"{url}/publish", None, moderator), ("DELETE", url, None, moderator)]
        )
        assert sorted([published, deleted]) in ([200, 409], [204, 409], [204, 404])
        after = client.get(url, headers=moderator).status_code
        assert after == (404 if deleted == 204 else 200)


def test_closing_at_once_closes_once(gateway, client, people):
    moderators = [people.moderator(n=n) for n in (1, 2, 3)]
    poll = new_poll(client, people)
    url = f"/api/polls/polls/{poll['id']}/close"
    statuses = at_once(gateway, [("POST", url, None, m) for m in moderators])
    assert sorted(statuses) == [200, 409, 409]


def test_an_edit_racing_a_publish_is_refused_or_comes_first(gateway, client, people):
    moderator = people.moderator()
    poll = new_poll(client, people, publish=False)
    url = f"/api/polls/polls/{poll['id']}"
    edited, published = at_once(
        gateway,
        [
            ("PATCH", url, {"options": ["Так", "Ні", "Не знаю"]}, moderator),
            ("POST", f"{url}/publish", None, moderator),
        ],
    )
    assert (edited, published) in ((200, 200), (200, 409), (409, 200))
    after = client.get(url, headers=moderator).json
    assert (after["state"] == "open") == (published == 200)
    assert ([o["label"] for o in after["options"]] == ["Так", "Ні", "Не знаю"]) == (edited == 200)
