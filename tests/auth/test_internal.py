"""The service API: verify an address for another service, notify users."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sqlalchemy import select, update
from werkzeug.test import Client

from services.auth.internal import api as internal_api
from services.auth.internal import domain as internal_domain
from services.auth.internal.models import EmailVerification, NotificationBatch
from services.auth.messaging.worker import DeliveryWorker
from services.auth.models import db
from services.common.client import call_service
from services.common.i18n import render_in_language
from services.common.timeutil import utcnow
from services.common.tokens import InvalidToken, verify_service_token
from tests.auth.helpers import confirmed_resident, link_token, messages, page_form
from tests.conftest import TEST_DB
from tests.support.concurrency import released_together

PUBLIC = "http://127.0.0.1:8000"


def internal_headers(auth_app, caller="polls") -> dict:
    return {"X-Viche-Internal-Token": auth_app.config["INTERNAL_TOKEN"], "X-Viche-Service": caller}


def asked(email="voter@example.org", **overrides) -> dict:
    """A verification request as polls makes it."""
    return {
        "email": email,
        "purpose": "poll-vote:7",
        "subject": "vote-abc",
        "locale": "uk",
        "return_url": f"{PUBLIC}/polls/7/confirmed",
        "context": {"question": "Звідки Ви отримуєте інформацію?", "choice": "Сайт громади"},
        **overrides,
    }


def ask(auth_app, email="voter@example.org", **overrides):
    return auth_app.test_client().post(
        "/internal/email-verifications",
        json=asked(email, **overrides),
        headers=internal_headers(auth_app),
    )


def ask_together(auth_app, requests: list[dict], headers: dict | None = None):
    return auth_app.test_client().post(
        "/internal/email-verifications/batch",
        json={"requests": requests},
        headers=internal_headers(auth_app) if headers is None else headers,
    )


def test_a_service_gets_a_proof_without_the_address(auth_app, client, polls_app):
    assert ask(auth_app).status_code == 202
    [mail] = messages(auth_app, "voter@example.org")
    assert mail.subject == "Підтвердьте свій голос"
    assert "Звідки Ви отримуєте інформацію?" in mail.text_body
    token = link_token(mail.text_body)

    # The link's page shows what is confirmed; its button takes auth's proof to the
    # caller's return address. Opening it (a mail scanner's GET) confirms nothing.
    page = client.get(f"/api/auth/verify?token={token}")
    assert page.status_code == 200 and "Сайт громади" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    action, fields = page_form(page.get_data(as_text=True))
    # The proof, and the page's language for the answer: the email's.
    assert action == "/polls/7/confirmed" and fields.keys() == {"proof", "lang"}
    assert fields["lang"] == "uk"
    # A path: the form posts to the address the voter opened the site at.
    assert 'action="/polls/7/confirmed"' in page.get_data(as_text=True)
    proof = fields["proof"]
    assert (
        "voter@example.org" not in jwt.decode(proof, options={"verify_signature": False}).values()
    )
    with polls_app.test_request_context("/"):  # the caller checks it with auth's JWKS
        claims = verify_service_token(proof, "email-proof")
    assert claims["purpose"] == "poll-vote:7" and claims["sub"] == "vote-abc"
    assert len(claims["email_hash"]) == 43
    with auth_app.app_context():  # the address is in the email only, never beside the hash
        (row,) = db.session.execute(select(EmailVerification.__table__)).all()
        assert row.status == "pending"
        assert not any("voter@example.org" in str(value) for value in row)


def test_a_page_opened_before_pages_carried_the_proof_is_shown_again_with_it(
    auth_app, client, polls_app
):
    """Its form POSTs the link's token to auth, which confirms nothing for a caller that
    takes the proof and sends the browser back to the link's page (no proof in any
    URL); a request without a return address is confirmed by auth, once."""
    assert ask(auth_app).status_code == 202
    token = link_token(messages(auth_app, "voter@example.org")[0].text_body)
    pressed = client.post("/api/auth/verify/form?lang=en", data={"token": token})
    assert pressed.status_code == 303
    location = urlsplit(pressed.headers["Location"])
    assert location.path == "/api/auth/verify"
    assert parse_qs(location.query) == {"token": [token], "lang": ["en"]}
    again = client.get(f"{location.path}?{location.query}")
    assert again.status_code == 200 and '<html lang="en"' in again.text
    action, fields = page_form(again.text)
    assert action == "/polls/7/confirmed" and fields == {"proof": fields["proof"], "lang": "en"}
    with polls_app.test_request_context("/"):
        assert verify_service_token(fields["proof"], "email-proof")["sub"] == "vote-abc"
    with auth_app.app_context():
        (verification,) = db.session.query(EmailVerification).all()
        assert verification.status == "pending"  # the caller acts on the proof

    assert ask(auth_app, email="other@example.org", return_url=None).status_code == 202
    token = link_token(messages(auth_app, "other@example.org")[0].text_body)
    page = client.get(f"/api/auth/verify?token={token}").get_data(as_text=True)
    action, fields = page_form(page)
    assert action.startswith("/api/auth/verify/form") and fields == {"token": token}
    done = client.post(action, data=fields)
    assert done.status_code == 200 and "proof" not in done.get_data(as_text=True)
    assert client.post(action, data=fields).status_code == 400  # once only
    assert client.get(f"/api/auth/verify?token={token}").status_code == 400


def test_a_link_pressed_in_several_tabs_at_once_confirms_once(auth_app, client):
    assert ask(auth_app, return_url=None).status_code == 202
    [mail] = messages(auth_app, "voter@example.org")
    token = link_token(mail.text_body)

    def press():
        tab = Client(client.application)
        return tab.post("/api/auth/verify/form", data={"token": token}).status_code

    statuses = released_together([press] * 6)
    assert sorted(statuses) == [200] + [400] * 5
    with auth_app.app_context():
        (verification,) = db.session.query(EmailVerification).all()
        assert verification.status == "confirmed"


def test_the_link_opens_in_the_language_of_its_email(auth_app, client):
    assert ask(auth_app, locale="hu").status_code == 202
    [mail] = messages(auth_app, "voter@example.org")
    link = re.search(r"https?://\S+", mail.text_body).group(0)
    assert "&" not in link  # one parameter: no mail client or scanner can split it
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    page = client.get(path, headers={"Accept-Language": "uk"}).get_data(as_text=True)
    assert '<html lang="hu"' in page
    chosen = client.get(path + "&lang=en", headers={"Accept-Language": "uk"})
    assert '<html lang="en"' in chosen.get_data(as_text=True)


def test_a_proof_is_for_its_audience_only(auth_app, client, petitions_app):
    ask(auth_app)
    token = link_token(messages(auth_app, "voter@example.org")[0].text_body)
    _, fields = page_form(client.get(f"/api/auth/verify?token={token}").get_data(as_text=True))
    proof = fields["proof"]
    with petitions_app.test_request_context("/"), pytest.raises(InvalidToken):
        verify_service_token(proof, "email-proof")


def test_an_access_token_is_not_a_proof(auth_app, polls_app):
    from tests.support.tokens import make_token

    with polls_app.test_request_context("/"), pytest.raises(InvalidToken):
        verify_service_token(make_token(auth_app, "1"), "email-proof")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Viche-Internal-Token": "guess", "X-Viche-Service": "polls"},
        {"X-Viche-Internal-Token": "", "X-Viche-Service": "polls"},
    ],
)
def test_without_the_internal_token_nothing_happens(auth_app, headers):
    response = auth_app.test_client().post(
        "/internal/email-verifications",
        json={"email": "v@example.org", "purpose": "poll-vote:1", "subject": "s"},
        headers=headers,
    )
    assert response.status_code == 403
    assert response.json["type"] == "urn:viche:problem:forbidden"
    assert messages(auth_app, "v@example.org") == []


def test_the_gateway_never_lets_an_outsider_through(auth_app, client):
    response = client.post(
        "/api/auth/internal/email-verifications",
        json={"email": "v@example.org", "purpose": "poll-vote:1", "subject": "s"},
        headers=internal_headers(auth_app),
    )  # even with the right token
    assert response.status_code == 403
    assert messages(auth_app, "v@example.org") == []


def test_return_urls_stay_on_our_site(auth_app):
    response = ask(auth_app, return_url="https://evil.example/steal")
    assert response.status_code == 422 and "return_url" in response.json["errors"]


def test_an_address_cannot_be_flooded(auth_app):
    statuses = [ask(auth_app, subject=f"v{n}").status_code for n in range(6)]
    assert statuses == [202] * 5 + [429]


def test_a_refusal_is_said_in_the_emails_language(auth_app):
    for n in range(5):
        assert ask(auth_app, subject=f"v{n}").status_code == 202
    refused = ask(auth_app, subject="v5", locale="en")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
    assert refused.json["detail"] == (
        "Too many confirmations were sent to this address. Try again later."
    )


def test_requests_handed_over_together_are_answered_each_on_its_own(auth_app, client):
    for n in range(5):  # this address has had all it may have this hour
        assert ask(auth_app, "flooded@example.org", subject=f"v{n}").status_code == 202
    answer = ask_together(
        auth_app,
        [
            asked("flooded@example.org", subject="a", locale="en"),
            asked("one@example.org", subject="b"),
            asked("two@example.org", subject="c", return_url="https://evil.example/x"),
            asked("three@example.org", subject="d", locale="hu"),
        ],
    )
    assert answer.status_code == 200
    flooded, one, evil, three = answer.json["results"]
    assert flooded["status"] == 429 and flooded["retry_after"] == 3600
    assert flooded["type"] == "urn:viche:problem:rate-limited"
    assert flooded["detail"] == (
        "Too many confirmations were sent to this address. Try again later."
    )
    assert evil["status"] == 422 and "return_url" in evil["errors"]
    assert "id" not in evil and "id" not in flooded
    assert one["status"] == three["status"] == 202 and one["id"] != three["id"]
    assert len(messages(auth_app, "flooded@example.org")) == 5
    assert messages(auth_app, "two@example.org") == []
    # Each queued email carries the link to its own request, in its own language.
    for address, subject, title in (
        ("one@example.org", "b", "Підтвердьте свій голос"),
        ("three@example.org", "d", "Erősítse meg a szavazatát"),
    ):
        [mail] = messages(auth_app, address)
        assert mail.subject == title
        page = client.get(f"/api/auth/verify?token={link_token(mail.text_body)}")
        _, fields = page_form(page.get_data(as_text=True))
        proof = jwt.decode(fields["proof"], options={"verify_signature": False})
        assert proof["sub"] == subject


@pytest.mark.parametrize(
    "requests",
    [
        [],  # nothing to do
        [asked(f"v{n}@example.org", subject=f"s{n}") for n in range(65)],  # too many at once
        [asked("ok@example.org"), asked("bad", subject="x")],  # one is not an address
    ],
)
def test_a_batch_with_a_request_it_cannot_take_is_refused_whole(auth_app, requests):
    answer = ask_together(auth_app, requests)
    assert answer.status_code == 422
    assert messages(auth_app, "ok@example.org") == []
    assert messages(auth_app, "v0@example.org") == []


def test_requests_together_need_the_internal_token_too(auth_app, client):
    wrong = {"X-Viche-Internal-Token": "guess", "X-Viche-Service": "polls"}
    assert ask_together(auth_app, [asked()], headers=wrong).status_code == 403
    through_gateway = client.post(
        "/api/auth/internal/email-verifications/batch",
        json={"requests": [asked()]},
        headers=internal_headers(auth_app),
    )
    assert through_gateway.status_code == 403
    assert messages(auth_app, "voter@example.org") == []


def test_an_expired_verification_confirms_nothing(auth_app, client):
    verification_id = ask(auth_app).json["id"]
    token = link_token(messages(auth_app, "voter@example.org")[0].text_body)
    with auth_app.app_context():
        db.session.get(EmailVerification, verification_id).expires_at = utcnow() - timedelta(
            seconds=1
        )
        db.session.commit()
    assert client.get(f"/api/auth/verify?token={token}").status_code == 400
    assert client.post("/api/auth/verify/form", data={"token": token}).status_code == 400
    with auth_app.app_context():
        kept = db.session.get(EmailVerification, verification_id)
        assert kept.status == "pending" and kept.settled_at is None


def test_a_spent_link_leads_back_to_the_callers_page_on_our_site_only(auth_app, client):
    """Used or expired, the link's page says which, in the email's language, and leads
    back to the page the caller named, when that page is on this site."""
    for page, linked in ((f"{PUBLIC}/polls/7", True), ("https://evil.example/polls/7", False)):
        context = {"question": "Звідки?", "page": page}
        verification_id = ask(auth_app, context=context, subject=page[-20:]).json["id"]
        token = link_token(messages(auth_app, "voter@example.org")[-1].text_body)
        with auth_app.app_context():
            db.session.get(EmailVerification, verification_id).expires_at = utcnow() - timedelta(
                seconds=1
            )
            db.session.commit()
        shown = client.get(f"/api/auth/verify?token={token}")
        assert shown.status_code == 400 and '<html lang="uk">' in shown.text
        assert "Термін дії посилання минув." in shown.text
        assert (f'href="{page}"' in shown.text) is linked
        with auth_app.app_context():
            used = db.session.get(EmailVerification, verification_id)
            used.status, used.expires_at = "confirmed", utcnow() + timedelta(hours=1)
            db.session.commit()
        shown = client.get(f"/api/auth/verify?token={token}&lang=en")
        assert shown.status_code == 400 and '<html lang="en">' in shown.text
        assert "This link has been used already." in shown.text
        assert (f'href="{page}"' in shown.text) is linked


def test_a_link_from_before_works_and_a_foreign_forged_or_old_one_says_why_not(
    auth_app, client, monkeypatch
):
    """The links are read as auth's other emailed links are (accounts.links): salted by
    their purpose, which has not changed, so links mailed already open; another
    purpose's link, a mangled one and one signed over a day ago are refused in words."""
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    from services.auth.accounts.settings import Settings

    verification_id = ask(auth_app).json["id"]
    secret = Settings.from_config(auth_app.config).secret_key
    as_ever = URLSafeTimedSerializer(secret, salt="viche.auth.verify-for-service")
    page = client.get(f"/api/auth/verify?token={as_ever.dumps({'v': verification_id})}")
    assert page.status_code == 200 and "Сайт громади" in page.text

    confirmed_resident(client, auth_app)
    other_purpose = link_token(
        messages(auth_app, "olena@example.org", "confirm_email")[-1].text_body
    )
    real = link_token(messages(auth_app, "voter@example.org")[0].text_body)
    for token, said in (
        (other_purpose, "This link is not valid."),
        (real[:-3] + "abc", "This link is not valid."),
        (as_ever.dumps({"v": 7}), "This link has been used already or is no longer valid."),
        (as_ever.dumps(["v", verification_id]), "This link is not valid."),
    ):
        refused = client.post("/api/auth/verify/form?lang=en", data={"token": token})
        assert refused.status_code == 400 and said in refused.text, token
    two_days_ago = int(utcnow().timestamp()) - 2 * 24 * 3600
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: two_days_ago)
    old = as_ever.dumps({"v": verification_id})
    monkeypatch.undo()
    refused = client.post("/api/auth/verify/form?lang=en", data={"token": old})
    assert refused.status_code == 400 and "This link has expired." in refused.text
    with auth_app.app_context():
        assert db.session.get(EmailVerification, verification_id).status == "pending"


def test_requests_are_deleted_once_their_link_has_expired_whatever_became_of_them(
    auth_app, client, monkeypatch
):
    """An ignored link keeps no address, and a confirmed one no hash of the address
    beside the question and choice it confirmed, once the link is of no more use."""
    monkeypatch.setattr(internal_domain, "FORGET_AT_ONCE", 2)
    ignored = [ask(auth_app, email=f"ignored{n}@example.org").json["id"] for n in range(2)]
    confirmed = ask(auth_app, email="confirmed@example.org", return_url=None).json["id"]
    cancelled = ask(auth_app, email="cancelled@example.org", subject="vote-cancelled").json["id"]
    waiting = ask(auth_app, email="waiting@example.org").json["id"]
    token = link_token(messages(auth_app, "confirmed@example.org")[0].text_body)
    assert client.post("/api/auth/verify/form", data={"token": token}).status_code == 200
    withdrawn = auth_app.test_client().post(
        "/internal/email-verifications/cancel",
        json={"subject": "vote-cancelled"},
        headers=internal_headers(auth_app),
    )
    assert withdrawn.status_code == 204
    dead = [*ignored, confirmed, cancelled]
    with auth_app.app_context():
        db.session.execute(
            update(EmailVerification)
            .where(EmailVerification.id.in_(dead))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        DeliveryWorker(auth_app).run_once(sweep_too=True)  # as the worker does
        left = db.session.scalars(select(EmailVerification.id)).all()
        assert left == [waiting]  # four, in two steps of two
        kept = db.session.get(EmailVerification, waiting)
        assert kept.status == "pending"
    token = link_token(messages(auth_app, "ignored0@example.org")[0].text_body)
    assert client.get(f"/api/auth/verify?token={token}").status_code == 400
    assert client.post("/api/auth/verify/form", data={"token": token}).status_code == 400


def test_a_caller_withdraws_its_own_request_by_its_subject(auth_app, client):
    ask(auth_app, subject="vote-withdrawn")
    kept = ask(auth_app, email="other@example.org", subject="vote-kept").json["id"]
    service = auth_app.test_client()

    def cancel(body, caller="polls"):
        return service.post(
            "/internal/email-verifications/cancel",
            json=body,
            headers=internal_headers(auth_app, caller),
        )

    assert cancel({"subject": "vote-withdrawn"}, caller="petitions").status_code == 404
    for refused in ({}, {"subject": ""}, {"subject": "x" * 101}, {"subject": 7}):
        assert cancel(refused).status_code == 422
    assert cancel({"subject": "vote-withdrawn"}).status_code == 204
    assert cancel({"subject": "vote-withdrawn"}).status_code == 404  # nothing pending
    token = link_token(messages(auth_app, "voter@example.org")[0].text_body)
    assert client.post("/api/auth/verify/form", data={"token": token}).status_code == 400
    with auth_app.app_context():
        assert db.session.get(EmailVerification, kept).status == "pending"
    outsider = service.post("/internal/email-verifications/cancel", json={"subject": "vote-kept"})
    assert outsider.status_code == 403


def test_a_caller_says_which_links_it_acted_on_and_their_pages_say_used(auth_app, client):
    ask(auth_app, subject="vote-acted-on")
    other = ask(auth_app, email="other@example.org", subject="vote-other").json["id"]
    token = link_token(messages(auth_app, "voter@example.org")[0].text_body)
    service = auth_app.test_client()

    def settle(subjects, caller="polls"):
        return service.post(
            "/internal/email-verifications/settled",
            json={"subjects": subjects},
            headers=internal_headers(auth_app, caller),
        )

    assert settle(["vote-acted-on"], caller="petitions").json == {"settled": 0}  # not its own
    assert client.get(f"/api/auth/verify?token={token}").status_code == 200
    assert settle(["vote-acted-on", "no-such-subject"]).json == {"settled": 1}
    assert settle(["vote-acted-on"]).json == {"settled": 0}  # told twice: nothing more
    assert client.get(f"/api/auth/verify?token={token}").status_code == 400
    assert client.post("/api/auth/verify/form", data={"token": token}).status_code == 400
    with auth_app.app_context():
        assert db.session.get(EmailVerification, other).status == "pending"
    for refused in ([], ["x"] * (internal_domain.SETTLED_AT_ONCE + 1), [""]):
        assert settle(refused).status_code == 422
    anonymous = service.post(
        "/internal/email-verifications/settled", json={"subjects": ["vote-other"]}
    )
    assert anonymous.status_code == 403
    with auth_app.app_context():
        assert db.session.get(EmailVerification, other).status == "pending"


def test_notifications_reach_confirmed_users_in_their_language(auth_app, client, petitions_app):
    pair = confirmed_resident(client, auth_app)
    user_id = int(jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"])
    with petitions_app.test_request_context("/"):
        response = call_service(
            "auth",
            "POST",
            "/internal/notifications",
            internal=True,
            json={
                "user_ids": [user_id, 999],
                "template": "petition_response",
                "context": {"title": "Більше ліхтарів", "url": f"{PUBLIC}/petitions/3"},
            },
        )
        refused = call_service(
            "auth",
            "POST",
            "/internal/notifications",
            internal=True,
            json={"user_ids": [user_id], "template": "confirm_email", "context": {}},
        )
        crowded = call_service(
            "auth",
            "POST",
            "/internal/notifications",
            internal=True,
            json={
                "user_ids": [user_id],
                "template": "petition_response",
                "context": {f"k{n}": "v" for n in range(21)},
            },
        )
    assert response.status == 202 and response.json() == {"queued": 1}
    assert refused.status == 422
    assert crowded.status == 422 and "context" in crowded.json()["errors"]
    [notice] = messages(auth_app, "olena@example.org", "petition_response")
    assert "Більше ліхтарів" in notice.text_body and notice.locale == "uk"


def test_a_batch_handed_over_again_under_its_key_is_not_sent_again(auth_app, client):
    pair = confirmed_resident(client, auth_app)
    user_id = int(jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"])
    batch = {
        "user_ids": [user_id],
        "template": "petition_response",
        "context": {"title": "Більше ліхтарів", "url": f"{PUBLIC}/petitions/3"},
        "key": "petition-response-1-from-7",
    }
    internal = auth_app.test_client()

    def hand_over(caller="petitions", **changes):
        return internal.post(
            "/internal/notifications",
            json={**batch, **changes},
            headers=internal_headers(auth_app, caller),
        )

    first, again = hand_over(), hand_over()
    assert first.status_code == again.status_code == 202
    assert first.json == again.json == {"queued": 1}
    assert len(messages(auth_app, "olena@example.org", "petition_response")) == 1
    # Another key, or the same key from another service, is another batch.
    assert hand_over(key="petition-response-1-from-8").json == {"queued": 1}
    assert hand_over(caller="polls").json == {"queued": 1}
    assert len(messages(auth_app, "olena@example.org", "petition_response")) == 3
    for key in ("", "k" * 129, 7):
        assert hand_over(key=key).status_code == 422
    assert len(messages(auth_app, "olena@example.org", "petition_response")) == 3
    # Keys are let go a month on (retries come within minutes): the table stays small.
    with auth_app.app_context():
        db.session.execute(
            update(NotificationBatch)
            .where(NotificationBatch.key == "petition-response-1-from-8")
            .values(created_at=utcnow() - timedelta(days=31))
        )
        db.session.commit()
        DeliveryWorker(auth_app).run_once(sweep_too=True)
        kept = db.session.scalars(select(NotificationBatch.key)).all()
    assert sorted(kept) == ["petition-response-1-from-7", "petition-response-1-from-7"]


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent requests need a server database")
def test_one_batch_handed_over_twice_at_once_is_sent_once(auth_app, client):
    pair = confirmed_resident(client, auth_app)
    user_id = int(jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"])
    batch = {"user_ids": [user_id], "template": "petition_response", "key": "twice"}

    def hand_over():
        return auth_app.test_client().post(
            "/internal/notifications", json=batch, headers=internal_headers(auth_app, "petitions")
        )

    answers = released_together([hand_over] * 4)
    assert [answer.json for answer in answers] == [{"queued": 1}] * 4
    assert len(messages(auth_app, "olena@example.org", "petition_response")) == 1


def test_the_links_page_rendered_once_around_its_proof_is_the_page_rendered_whole(auth_app):
    """In the email's language or the one chosen with ?lang=, with a question that HTML
    escapes, and a proof that it would."""
    pages = []
    for proof in ("eyJhbGc.eyJzdWIi.c2ln-_", 'a&b<"c>'):
        verification = internal_domain.PendingVerification(
            "uk",
            {"question": 'Що <краще> & "чому"?', "choice": "Сайт громади", "page": "/polls/7"},
            "/api/polls/votes/confirm",
            proof,
        )
        for chosen in ("", "hu"):
            with auth_app.test_request_context(f"/api/auth/verify?lang={chosen}"):
                whole = render_in_language(
                    "uk", internal_api.LINK_PAGE, token="t", verification=verification
                )
                assert internal_api._link_page(verification, "t") == whole
                assert internal_api._link_page(verification, "t") == whole  # kept
                pages.append(whole)
    assert 'lang="hu"' in pages[1] and "a&amp;b&lt;&#34;c&gt;" in pages[2]
    assert len(set(pages)) == 4
    assert internal_api._proof_page_around_mark.cache_info().currsize >= 2


def test_callers_of_the_release_before_still_settle_by_id(auth_app, client):
    """During a rolling upgrade polls processes of the release before name the
    verifications they acted on by id; either way, never both or neither."""
    by_id = ask(auth_app, subject="vote-by-id").json["id"]
    ask(auth_app, email="other@example.org", subject="vote-by-subject")
    service = auth_app.test_client()

    def settle(body):
        return service.post(
            "/internal/email-verifications/settled", json=body, headers=internal_headers(auth_app)
        )

    for refused in ({}, {"ids": [by_id], "subjects": ["vote-by-subject"]}, {"ids": []}):
        assert settle(refused).status_code == 422
    assert settle({"ids": [by_id]}).json == {"settled": 1}
    assert settle({"subjects": ["vote-by-id", "vote-by-subject"]}).json == {"settled": 1}
    token = link_token(messages(auth_app, "voter@example.org")[0].text_body)
    assert client.get(f"/api/auth/verify?token={token}").status_code == 400
