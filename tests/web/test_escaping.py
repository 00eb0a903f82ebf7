"""Text people typed is shown as text: in pages, the widget and the emails it causes."""

from __future__ import annotations

import pytest

from services.petitions.counts import fold_new_signatures
from services.petitions.models import db as petitions_db
from tests.auth.helpers import messages
from tests.petitions.conftest import open_petition
from tests.petitions.test_lifecycle import _settled
from tests.polls.conftest import new_poll

pytestmark = pytest.mark.usefixtures("councils")

SCRIPT = "<script>alert(1)</script>"
IMAGE = '<img src=x onerror="alert(2)">'


def shows_as_text(html: str) -> bool:
    return SCRIPT not in html and IMAGE not in html and "&lt;script&gt;alert(1)" in html


def test_a_petition_and_its_response_are_shown_as_text(client, people, petitions_app):
    client.put("/api/petitions/councils/kyiv/policy", json={"threshold": 1}, headers=people.admin())
    petition_id = open_petition(client, people, title=f"Ліхтарі {SCRIPT}")
    signed = client.post(
        f"/api/petitions/petitions/{petition_id}/signatures",
        json={"notify": True},
        headers=people.resident(1, name=f"Олена {IMAGE}"),
    )
    assert signed.status_code == 201
    with petitions_app.app_context(), _settled():
        fold_new_signatures(petitions_db.session)
    answered = client.post(
        f"/api/petitions/petitions/{petition_id}/response",
        json={"text": f"Відповідь {IMAGE} {SCRIPT}", "decision": "supported"},
        headers=people.moderator(),
    )
    assert answered.status_code == 200
    page = client.get(f"/petitions/{petition_id}").get_data(as_text=True)
    assert shows_as_text(page)
    assert "&lt;img src=x onerror=" in page  # the response, and the signer's name


def test_a_poll_question_and_options_are_shown_as_text(client, people):
    poll = new_poll(
        client, people, question=f"Звідки {SCRIPT}?", options=[f"Так {SCRIPT}", f"Ні {IMAGE}"]
    )
    for path in (f"/api/polls/widget/{poll['id']}", f"/polls/{poll['id']}"):
        assert shows_as_text(client.get(path).get_data(as_text=True)), path


def test_a_confirmation_email_shows_the_poll_as_text(client, people, auth_app):
    poll = new_poll(client, people, options=[f"Так {SCRIPT}", "Ні"])
    choice = poll["options"][0]["id"]
    asked = client.post(
        f"/api/polls/polls/{poll['id']}/email-votes",
        json={"email": "voter@example.org", "choices": [choice]},
    )
    assert asked.status_code == 202
    [mail] = messages(auth_app, "voter@example.org", "confirm_for_service")
    if mail.html_body:
        assert SCRIPT not in mail.html_body
    page = client.get(
        "/api/auth/verify?token=" + mail.text_body.split("token=", 1)[1].split()[0]
    ).get_data(as_text=True)
    assert shows_as_text(page)
