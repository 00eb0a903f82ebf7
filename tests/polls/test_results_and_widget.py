"""Results (visibility, CSV, caching, final recount) and the embeddable widget."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from gateway.web import WEB_UI_POLICY
from services.common.app import SERVICE_PAGES_POLICY
from services.common.timeutil import utcnow
from services.polls.models import Ballot, OptionTally, Poll, PollTally, TallyEntry
from services.polls.models import db as polls_db
from services.polls.tallies import reconcile_closed
from tests.petitions.conftest import open_petition
from tests.polls.conftest import (
    confirm_in_browser,
    confirmation_token,
    fold,
    new_poll,
    option_ids,
    shift_poll,
)

pytestmark = pytest.mark.usefixtures("councils")


def account_vote(client, poll, headers, n=0):
    response = client.post(
        f"/api/polls/polls/{poll['id']}/votes",
        json={"choices": [option_ids(poll)[n]]},
        headers=headers,
    )
    assert response.status_code == 201, response.json
    return response.json["receipt"]


def test_results_after_close_are_hidden_until_then(client, people, polls_app):
    poll = new_poll(client, people, method="account", results_visibility="after_close")
    account_vote(client, poll, people.resident())
    fold(polls_app)
    hidden = client.get(f"/api/polls/polls/{poll['id']}/results")
    assert hidden.status_code == 403 and hidden.json["type"].endswith(":results-hidden")
    assert client.get(f"/api/polls/polls/{poll['id']}/results.csv").status_code == 403
    # The council's moderators see them all along.
    seen = client.get(f"/api/polls/polls/{poll['id']}/results", headers=people.moderator())
    assert seen.status_code == 200 and seen.json["voters"] == 1
    client.post(f"/api/polls/polls/{poll['id']}/close", headers=people.moderator())
    shown = client.get(f"/api/polls/polls/{poll['id']}/results")
    assert shown.status_code == 200 and shown.json["voters"] == 1


def test_results_after_voting_need_a_vote(client, people):
    poll = new_poll(client, people, method="account", results_visibility="after_vote")
    assert client.get(f"/api/polls/polls/{poll['id']}/results").status_code == 403
    voter = people.resident()
    assert client.get(f"/api/polls/polls/{poll['id']}/results", headers=voter).status_code == 403
    receipt = account_vote(client, poll, voter)
    assert client.get(f"/api/polls/polls/{poll['id']}/results", headers=voter).status_code == 200
    by_receipt = client.get(f"/api/polls/polls/{poll['id']}/results?receipt={receipt}")
    assert by_receipt.status_code == 200
    guessed = client.get(f"/api/polls/polls/{poll['id']}/results?receipt=0123456789abcdef01234567")
    assert guessed.status_code == 403


def test_results_as_csv_cannot_run_formulas(client, people, polls_app):
    moderator = people.moderator()
    created = client.post(
        "/api/polls/polls",
        json={
            "council": "kyiv",
            "question": "Формула в опитуванні?",
            "options": ['=HYPERLINK("http://evil")', "+1", "Звичайна відповідь"],
            "method": "account",
        },
        headers=moderator,
    ).json
    poll = client.post(f"/api/polls/polls/{created['id']}/publish", headers=moderator).json
    account_vote(client, poll, people.resident())
    fold(polls_app)
    response = client.get(f"/api/polls/polls/{poll['id']}/results.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["Answer", "Votes", "Percent"]
    assert rows[1][0] == '\'=HYPERLINK("http://evil")' and rows[1][1] == "1"
    assert rows[2][0] == "'+1" and rows[3][0] == "Звичайна відповідь"
    assert rows[-1][:2] == ["Voters", "1"]
    # Headed in the reader's language, which caches are told the file varies by.
    assert "Accept-Language" in response.headers["Vary"]
    ukrainian = client.get(
        f"/api/polls/polls/{poll['id']}/results.csv", headers={"Accept-Language": "uk"}
    )
    rows = list(csv.reader(io.StringIO(ukrainian.get_data(as_text=True))))
    assert rows[0] == ["Відповідь", "Голоси", "Відсоток"] and rows[-1][0] == "Проголосували"


def test_public_reads_carry_etags_and_answer_304(client, people, polls_app):
    poll = new_poll(client, people, method="account")
    url = f"/api/polls/polls/{poll['id']}/results"
    first = client.get(url)
    assert "public" in first.headers["Cache-Control"] and first.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    account_vote(client, poll, people.resident())
    fold(polls_app)  # the results change once the vote is folded in
    changed = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.json["voters"] == 1


def test_closing_makes_results_final_and_corrects_drift(client, people, polls_app):
    poll = new_poll(client, people, method="account")
    for n in range(1, 4):
        account_vote(client, poll, people.resident(n), n=n % 2)
    fold(polls_app)
    first_option = option_ids(poll)[0]
    with polls_app.app_context():  # a tally gone wrong (a bug, a hand edit)
        polls_db.session.execute(
            update(OptionTally).where(OptionTally.option_id == first_option).values(votes=40)
        )
        polls_db.session.execute(update(PollTally).values(voters=99))
        polls_db.session.commit()
        polls_db.session.remove()
    client.post(f"/api/polls/polls/{poll['id']}/close", headers=people.moderator())
    shift_poll(polls_app, poll["id"], closed_at=utcnow() - timedelta(minutes=1))
    with polls_app.app_context():
        assert reconcile_closed(polls_db.session) == 1
        assert polls_db.session.get(Poll, poll["id"]).reconciled_at is not None
        polls_db.session.remove()
    data = client.get(f"/api/polls/polls/{poll['id']}/results").json
    assert data["final"] is True and data["voters"] == 3
    assert {o["id"]: o["votes"] for o in data["options"]}[first_option] == 1
    # The widget says so: not "Results" that might still move.
    widget = client.get(f"/api/polls/widget/{poll['id']}?lang=en").text
    assert ">Final results</h2>" in widget


def test_a_poll_closed_before_its_votes_were_folded_is_recounted_exactly(client, people, polls_app):
    poll = new_poll(client, people, method="account", allow_change=True)
    first, second, *_ = option_ids(poll)
    for n in range(1, 4):
        account_vote(client, poll, people.resident(n), n=n % 2)
    account_vote(client, poll, people.resident(1), n=0)  # a change: second -> first
    client.post(f"/api/polls/polls/{poll['id']}/close", headers=people.moderator())
    shift_poll(polls_app, poll["id"], closed_at=utcnow() - timedelta(minutes=1))
    with polls_app.app_context():  # the change's entries settled, the ballots not yet
        polls_db.session.execute(update(Ballot).values(created_at=utcnow() + timedelta(minutes=1)))
        polls_db.session.execute(
            update(TallyEntry).values(created_at=utcnow() - timedelta(minutes=1))
        )
        polls_db.session.commit()
        assert reconcile_closed(polls_db.session) == 1
        polls_db.session.remove()
    data = client.get(f"/api/polls/polls/{poll['id']}/results").json
    assert data["final"] is True and data["voters"] == 3
    votes = {o["id"]: o["votes"] for o in data["options"]}
    assert votes[first] == 2 and votes[second] == 1 and sum(votes.values()) == 3
    fold(polls_app)  # the ballots come in once, not twice
    assert client.get(f"/api/polls/polls/{poll['id']}/results").json == data


def test_the_widget_votes_by_email_in_the_polls_language(client, people, auth_app, polls_app):
    poll = new_poll(client, people)
    page = client.get(f"/api/polls/widget/{poll['id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="uk">' in html
    assert "Щоб уникнути фальсифікацій" in html and 'type="radio"' in html
    assert '<label for="choice-' in html and 'for="email"' in html
    english = client.get(f"/api/polls/widget/{poll['id']}?lang=en").get_data(as_text=True)
    assert "To avoid falsification" in english

    wrong = client.post(
        f"/api/polls/widget/{poll['id']}",
        data={"email": "not an address", "choice": str(option_ids(poll)[0])},
    )
    assert wrong.status_code == 422
    assert 'id="email-error"' in wrong.get_data(as_text=True)
    assert 'aria-invalid="true"' in wrong.get_data(as_text=True)
    # Nothing filled in: both faults said at once, not one a submission.
    empty = client.post(f"/api/polls/widget/{poll['id']}", data={"email": ""})
    assert empty.status_code == 422
    assert 'id="email-error"' in empty.text and 'id="choices-error"' in empty.text
    assert "Оберіть відповідь." in empty.text

    sent = client.post(
        f"/api/polls/widget/{poll['id']}",
        data={"email": "widget@example.org", "choice": str(option_ids(poll)[1]), "lang": "uk"},
    )
    assert sent.status_code == 200
    assert "Майже готово" in sent.get_data(as_text=True)
    thanks = confirm_in_browser(client, confirmation_token(auth_app, "widget@example.org"))
    assert "Дякуємо! Ваш голос враховано." in thanks.get_data(as_text=True)
    # Opened from the email, the page leads on to the poll's own page, in its language.
    public = polls_app.config["PUBLIC_URL"]
    onward = f'href="{public}/polls/{poll["id"]}?lang=uk">Відкрити опитування</a>'
    assert onward in thanks.get_data(as_text=True)
    fold(polls_app)
    results = client.get(f"/api/polls/polls/{poll['id']}/results").json
    assert results["voters"] == 1 and results["verification"] == "email"


def test_the_widget_cancel_button(client, people, auth_app):
    poll = new_poll(client, people)
    sent = client.post(
        f"/api/polls/widget/{poll['id']}",
        data={"email": "widget@example.org", "choice": str(option_ids(poll)[1])},
    )
    html = sent.get_data(as_text=True)
    action = html.split('action="', 2)[1].split('"', 1)[0]
    cancelled = client.post(action, data={"poll": str(poll["id"])})
    assert cancelled.status_code == 200 and "скасовано" in cancelled.get_data(as_text=True)
    # In the council's frame, the way back is the form again.
    back = f'href="/api/polls/widget/{poll["id"]}?lang=uk">Повернутися до опитування</a>'
    assert back in cancelled.get_data(as_text=True)
    token = confirmation_token(auth_app, "widget@example.org")
    assert client.get(f"/api/auth/verify?token={token}").status_code == 400


def test_only_the_widget_may_be_framed_and_only_by_the_councils_sites(client, people):
    poll = new_poll(client, people)
    admin = people.admin("kyiv")
    origins = ["https://rada.example.ua", "http://127.0.0.1:9000"]
    saved = client.put(
        "/api/polls/councils/kyiv/policy", json={"widget_origins": origins}, headers=admin
    )
    assert saved.status_code == 200 and saved.json["widget_origins"] == origins
    csp = client.get(f"/api/polls/widget/{poll['id']}").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://rada.example.ua http://127.0.0.1:9000" in csp
    for path in (f"/api/polls/polls/{poll['id']}", "/api/auth/healthz", "/api/petitions/petitions"):
        headers = client.get(path).headers
        assert headers["Content-Security-Policy"] == SERVICE_PAGES_POLICY, path
        assert headers["X-Frame-Options"] == "DENY"
    # The web UI's pages load only from this site, and run nothing inline.
    page = client.get(f"/polls/{poll['id']}").headers
    assert page["Content-Security-Policy"] == WEB_UI_POLICY and "unsafe" not in WEB_UI_POLICY
    assert "frame-ancestors 'none'" in WEB_UI_POLICY and page["X-Frame-Options"] == "DENY"
    # Only the council's admins set them, and only as origins.
    moderator = people.moderator("kyiv")
    assert (
        client.put(
            "/api/polls/councils/kyiv/policy", json={"widget_origins": []}, headers=moderator
        ).status_code
        == 403
    )
    assert (
        client.put(
            "/api/polls/councils/kyiv/policy",
            json={"widget_origins": []},
            headers=people.admin("oliivka"),
        ).status_code
        == 403
    )
    bad = client.put(
        "/api/polls/councils/kyiv/policy",
        json={"widget_origins": ["https://x.example/path'; script-src *"]},
        headers=admin,
    )
    assert bad.status_code == 422


def test_the_embed_snippet_and_loader(client, people):
    poll = new_poll(client, people, question='Де ставити "лавки" & <урни>?')
    snippet = client.get(f"/api/polls/polls/{poll['id']}/embed", headers=people.moderator()).json
    assert f"/api/polls/widget/{poll['id']}" in snippet["iframe"] and "<iframe" in snippet["iframe"]
    # The frame is named by its question, for screen readers, whichever snippet is used.
    title = 'title="Де ставити &#34;лавки&#34; &amp; &lt;урни&gt;?"'
    assert title in snippet["iframe"]
    assert f'data-poll="{poll["id"]}"' in snippet["script"]
    assert "data-" + title in snippet["script"]
    loader = client.get("/api/polls/widget.js")
    assert loader.status_code == 200 and loader.mimetype == "text/javascript"
    assert "iframe" in loader.get_data(as_text=True)
    assert client.get(f"/api/polls/polls/{poll['id']}/embed").status_code == 401


def test_the_widget_runs_only_its_own_height_script(client, people):
    """The one inline script (telling the loader the page's height) is allowed by its
    hash: nothing else a page might carry, a poll's text included, can run."""
    poll = new_poll(client, people, question="<script>alert(1)</script>")
    page = client.get(f"/api/polls/widget/{poll['id']}")
    scripts = re.findall(r"<script>(.*?)</script>", page.get_data(as_text=True), re.S)
    assert len(scripts) == 1 and "postMessage" in scripts[0]
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = page.headers["Content-Security-Policy"]
    assert (
        f"script-src 'sha256-{digest}';" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.get_data(as_text=True)


def test_the_snippet_is_as_tall_as_the_poll(client, people):
    """Without the loader the frame cannot fit itself: the snippet's height grows with
    the answers, and with the results shown beneath them."""

    def height(poll: dict) -> int:
        snippet = client.get(
            f"/api/polls/polls/{poll['id']}/embed", headers=people.moderator()
        ).json
        iframe = int(re.search(r'height="(\d+)"', snippet["iframe"]).group(1))
        assert f'data-height="{iframe}"' in snippet["script"]
        return iframe

    two = height(new_poll(client, people, options=["Так", "Ні"], results_visibility="after_close"))
    twelve_options = [f"Відповідь номер {n}" for n in range(12)]
    twelve = height(
        new_poll(client, people, options=twelve_options, results_visibility="after_close")
    )
    with_results = height(
        new_poll(client, people, options=twelve_options, results_visibility="always")
    )
    assert 300 <= two < twelve < with_results <= 2400


def test_a_draft_has_no_widget(client, people):
    draft = new_poll(client, people, publish=False)
    assert client.get(f"/api/polls/widget/{draft['id']}").status_code == 404


def test_the_widget_says_when_a_poll_opens_on_the_councils_clocks(client, people):
    poll = new_poll(client, people, opens_at="2099-06-30T21:00:00Z")
    assert poll["state"] == "scheduled"
    english = client.get(f"/api/polls/widget/{poll['id']}?lang=en").text
    opens = "This poll opens on July 1, 2099, 12:00\u202fAM Eastern European Summer Time."
    assert opens in english and "not opened yet" not in english
    # In the poll's language (Ukrainian) without ?lang=.
    shown = client.get(f"/api/polls/widget/{poll['id']}").text
    assert "1 липня 2099\u202fр., 00:00 за східноєвропейським літнім часом" in shown


def test_the_widget_says_when_a_poll_closed(client, people, polls_app):
    poll = new_poll(client, people)
    widget = f"/api/polls/widget/{poll['id']}?lang=en"
    # Past its closing time, before the job marks it closed: the time it closed at.
    shift_poll(polls_app, poll["id"], closes_at=datetime(2026, 7, 1, 9, 0, tzinfo=UTC))
    closed = "This poll closed on July 1, 2026, 12:00\u202fPM Eastern European Summer Time."
    assert closed in client.get(widget).text
    # Closed by a moderator before its closing time: when that was.
    shift_poll(
        polls_app, poll["id"], state="closed", closed_at=datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
    )
    closed = "This poll closed on June 30, 2026, 3:00\u202fPM Eastern European Summer Time."
    assert closed in client.get(widget).text
    # Without either time, as before.
    shift_poll(polls_app, poll["id"], closes_at=None, closed_at=None)
    assert "This poll is closed." in client.get(widget).text


def test_the_widget_and_signing_keep_their_own_council_rules(client, people):
    """Embedded mode runs both services in one process: each remembers its own policy
    table for a council (both are named council_policies)."""
    petition_id = open_petition(client, people)
    poll = new_poll(client, people)
    for n in (1, 2):  # the widget, signing, the widget again, signing again
        assert client.get(f"/api/polls/widget/{poll['id']}").status_code == 200
        signed = client.post(
            f"/api/petitions/petitions/{petition_id}/signatures",
            json={},
            headers=people.resident(n),
        )
        assert signed.status_code == 201, signed.json


def test_an_origin_copied_from_the_address_bar_is_taken_without_its_slash(client, people):
    admin = people.admin("kyiv")
    saved = client.put(
        "/api/polls/councils/kyiv/policy",
        json={"widget_origins": ["https://rada.example.ua/", "http://127.0.0.1:9000"]},
        headers=admin,
    )
    assert saved.status_code == 200
    assert saved.json["widget_origins"] == ["https://rada.example.ua", "http://127.0.0.1:9000"]
    for path_after in ("https://rada.example.ua//", "https://rada.example.ua/news"):
        refused = client.put(
            "/api/polls/councils/kyiv/policy",
            json={"widget_origins": [path_after]},
            headers=admin,
        )
        assert refused.status_code == 422 and "widget_origins.0" in refused.json["errors"]


def test_a_change_of_settings_can_be_checked_without_being_made(client, people):
    """The settings page checks with every service before it changes any."""
    url = "/api/polls/councils/kyiv/policy?check_only=true"
    change = {"widget_origins": ["https://rada.example.ua"], "block_disposable_email": True}
    checked = client.put(url, json=change, headers=people.admin("kyiv"))
    assert checked.status_code == 200 and checked.json["widget_origins"] == []
    assert client.get("/api/polls/councils/kyiv/policy").json["widget_origins"] == []
    wrong = client.put(url, json={"widget_origins": ["nope"]}, headers=people.admin("kyiv"))
    assert wrong.status_code == 422
    assert client.put(url, json=change, headers=people.moderator("kyiv")).status_code == 403
