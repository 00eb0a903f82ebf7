"""The seed's email-confirmed vote through a real SMTP server: MIME in, link out, counted."""

from __future__ import annotations

import pytest

from tests.auth.helpers import page_form
from tests.polls.conftest import deliver, fold, new_poll, option_ids, request_email_vote
from tests.support.smtp import links_in, text_of

pytestmark = pytest.mark.usefixtures("councils")


def test_a_vote_confirmed_from_a_real_email(client, people, auth_app, polls_app, smtp_server):
    poll = new_poll(client, people)
    choice = option_ids(poll)[1]
    assert request_email_vote(client, poll["id"], [choice], locale="uk").status_code == 202
    assert deliver(auth_app, smtp_server.config)["sent"] == 1
    email = smtp_server.inbox.wait_for("voter@example.org")
    assert "Facebook" in text_of(email)  # the voter sees what they are confirming
    [link] = links_in(email)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and "Facebook" in page.get_data(as_text=True)
    action, fields = page_form(page.get_data(as_text=True))
    thanks = client.post(action, data=fields)  # the Confirm button
    assert thanks.status_code == 200
    assert "Дякуємо! Ваш голос враховано." in thanks.get_data(as_text=True)
    fold(polls_app)
    results = client.get(f"/api/polls/polls/{poll['id']}/results").json
    assert results["voters"] == 1
    assert {o["id"]: o["votes"] for o in results["options"]}[choice] == 1
