"""Access tokens taken back before they expire: a deleted account, a reset password, a
role taken away, a refresh token used twice. Every service refuses them within seconds
(each reads auth's list every ACCESS_WITHDRAWALS_SECONDS; here at every request)."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from click.testing import CliRunner
from itsdangerous import URLSafeTimedSerializer

from gateway.cli import main as viche
from services.auth.accounts.models import RefreshToken
from services.auth.keys import access_withdrawals, withdraw_session
from services.auth.models import SessionWithdrawal, db
from services.common.timeutil import utcnow
from services.common.tokens import TOKEN_VERIFIER_KEY, Withdrawals
from tests.auth.helpers import (
    PASSWORD,
    answer_mail_requests,
    bearer,
    confirmed_resident,
    link_token,
    login,
    messages,
)
from tests.conftest import TEST_DB
from tests.petitions.conftest import submitted_petition
from tests.support.tokens import make_token
from tests.web.test_pages import csrf, register_and_confirm, sign_in

pytestmark = pytest.mark.usefixtures("councils")
API = "/api/petitions"


@pytest.fixture(autouse=True)
def withdrawals_read_at_every_request(gateway, monkeypatch):
    for app in gateway.apps.values():
        verifier = app.extensions.get(TOKEN_VERIFIER_KEY)
        if verifier is not None:
            monkeypatch.setattr(verifier.withdrawals, "every_seconds", 0)


def signed_in(client, pair: dict) -> bool:
    """Whether petitions takes the token: filing nothing is 422 signed in, 401 not."""
    status = client.post(f"{API}/petitions", json={}, headers=bearer(pair)).status_code
    assert status in (401, 422), status
    return status == 422


def test_a_moderator_whose_role_is_taken_away_moves_nothing_with_the_old_token(
    client, auth_app, people
):
    confirmed_resident(client, auth_app, "mod@kyiv.example")
    CliRunner().invoke(viche, ["auth", "grant-role", "kyiv", "mod@kyiv.example", "moderator"])
    moderator = login(client, "mod@kyiv.example").json  # says "moderator of kyiv"
    first = submitted_petition(client, people)
    approve = f"{API}/petitions/{first}/approve"
    assert client.post(approve, headers=bearer(moderator)).status_code == 200

    result = CliRunner().invoke(
        viche, ["auth", "revoke-role", "kyiv", "mod@kyiv.example", "moderator"]
    )
    assert result.exit_code == 0, result.output
    second = submitted_petition(client, people, title="Ремонт дороги на вулиці Садовій")
    refused = client.post(f"{API}/petitions/{second}/approve", headers=bearer(moderator))
    assert refused.status_code == 401
    assert refused.json["detail"] == "This access token was taken back. Sign in again."
    # A fresh token says what is left: a resident, who moderates nothing.
    fresh = client.post(
        "/api/auth/token/refresh", json={"refresh_token": moderator["refresh_token"]}
    )
    assert fresh.status_code == 200
    again = client.post(f"{API}/petitions/{second}/approve", headers=bearer(fresh.json))
    assert again.status_code == 404  # to a resident, a petition in moderation is not there
    still = client.get(f"{API}/petitions/{second}", headers=people.moderator())
    assert still.json["state"] == "moderation"


def test_a_platform_admin_made_ordinary_adds_no_council_with_the_old_token(client, auth_app):
    confirmed_resident(client, auth_app, "platform@example.org")
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "platform@example.org"])
    platform = login(client, "platform@example.org").json
    body = {"slug": "lviv", "name": "Львівська громада", "default_language": "uk"}
    assert client.post("/api/auth/councils", json=body, headers=bearer(platform)).status_code == 201
    revoked = CliRunner().invoke(viche, ["auth", "revoke-platform-admin", "platform@example.org"])
    assert revoked.exit_code == 0, revoked.output
    again = CliRunner().invoke(viche, ["auth", "revoke-platform-admin", "platform@example.org"])
    assert again.exit_code != 0 and "not a platform admin" in again.output
    other = {**body, "slug": "odesa", "name": "Одеська громада"}
    old_token = client.post("/api/auth/councils", json=other, headers=bearer(platform))
    assert old_token.status_code == 401
    fresh = client.post(
        "/api/auth/token/refresh", json={"refresh_token": platform["refresh_token"]}
    )
    assert (
        client.post("/api/auth/councils", json=other, headers=bearer(fresh.json)).status_code == 403
    )


def test_a_deleted_account_signs_nothing_with_a_token_it_still_holds(client, auth_app, people):
    client.put(
        f"{API}/councils/kyiv/policy", json={"signer_verification": "email"}, headers=people.admin()
    )
    first = submitted_petition(client, people)
    second = submitted_petition(client, people, title="Ремонт дороги на вулиці Садовій")
    for petition_id in (first, second):
        client.post(f"{API}/petitions/{petition_id}/approve", headers=people.moderator())
    pair = confirmed_resident(client, auth_app, "olena@example.org")
    signed = client.post(f"{API}/petitions/{first}/signatures", json={}, headers=bearer(pair))
    assert signed.status_code == 201
    deleted = client.delete("/api/auth/me", json={"password": PASSWORD}, headers=bearer(pair))
    assert deleted.status_code == 204
    late = client.post(f"{API}/petitions/{second}/signatures", json={}, headers=bearer(pair))
    assert late.status_code == 401 and late.json["type"].endswith(":invalid-token")


def test_a_password_reset_ends_the_old_tokens_everywhere(client, auth_app, people):
    old = confirmed_resident(client, auth_app)
    assert signed_in(client, old)
    client.post("/api/auth/password/forgot", json={"email": "olena@example.org"})
    answer_mail_requests(auth_app)
    token = link_token(messages(auth_app, "olena@example.org", "reset_password")[0].text_body)
    reset = client.post(
        "/api/auth/password/reset", json={"token": token, "password": "a brand new passphrase"}
    )
    assert reset.status_code == 204
    assert not signed_in(client, old)
    assert client.get("/api/auth/me", headers=bearer(old)).status_code == 401
    # Signed in again a moment later (the same second, even), the new token works.
    new = login(client, password="a brand new passphrase").json
    assert signed_in(client, new)
    assert client.get("/api/auth/me", headers=bearer(new)).status_code == 200


def test_a_refresh_token_used_twice_ends_its_holders_access_tokens(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    body = {"refresh_token": pair["refresh_token"]}
    thief = client.post("/api/auth/token/refresh", json=body).json  # used first by a thief
    assert client.post("/api/auth/token/refresh", json=body).status_code == 401  # reuse seen
    assert not signed_in(client, pair) and not signed_in(client, thief)


def test_only_services_read_the_withdrawals(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    app = auth_app.test_client()
    assert app.get("/internal/access-withdrawals").status_code == 403
    assert app.get("/internal/access-withdrawals", headers=bearer(pair)).status_code == 403
    assert client.get("/api/auth/internal/access-withdrawals").status_code in (403, 404)


def test_withdrawals_are_the_latest_per_person_and_survive_an_unreachable_auth():
    answers = [
        {"withdrawals": [{"user_id": "7", "at": 1000.5}]},
        RuntimeError("auth is down"),
        {"withdrawals": "nonsense"},
    ]

    def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    withdrawals = Withdrawals(fetch, every_seconds=0)
    assert withdrawals.withdrawn({"sub": "7", "iat": 1000.4})
    assert withdrawals.withdrawn({"sub": "7", "iat": 999})  # the list read before stays
    assert withdrawals.withdrawn({"sub": "7", "iat": 1000.0})  # and after nonsense too
    assert not withdrawals.withdrawn({"sub": "7", "iat": 1000.6})  # issued afterwards
    assert not withdrawals.withdrawn({"sub": "8", "iat": 1.0})


# Signing out withdraws that session's access tokens, and no other session's.


def polls_take(client, pair: dict) -> bool:
    """Whether polls takes the token: an empty new poll is 422 signed in, 401 not."""
    status = client.post("/api/polls/polls", json={}, headers=bearer(pair)).status_code
    assert status in (401, 422), status
    return status == 422


def test_signing_out_takes_back_that_sessions_access_token_everywhere(client, auth_app):
    laptop = confirmed_resident(client, auth_app)  # a shared computer, say
    phone = login(client).json  # the same person's other session
    assert signed_in(client, laptop) and polls_take(client, laptop)
    out = client.post("/api/auth/logout", json={"refresh_token": laptop["refresh_token"]})
    assert out.status_code == 204
    # Whoever copied the access token from the shared computer acts as nobody now.
    assert not signed_in(client, laptop) and not polls_take(client, laptop)
    refused = client.post(f"{API}/petitions", json={}, headers=bearer(laptop))
    assert refused.json["detail"] == "This access token was taken back. Sign in again."
    assert client.get("/api/auth/me", headers=bearer(laptop)).status_code == 401
    refresh = {"refresh_token": laptop["refresh_token"]}
    assert client.post("/api/auth/token/refresh", json=refresh).status_code == 401
    # The phone's session goes on, and renews.
    assert signed_in(client, phone) and polls_take(client, phone)
    renewed = client.post("/api/auth/token/refresh", json={"refresh_token": phone["refresh_token"]})
    assert renewed.status_code == 200 and signed_in(client, renewed.json)


def test_signing_out_takes_back_every_token_the_session_was_renewed_with(client, auth_app):
    first = confirmed_resident(client, auth_app)
    body = {"refresh_token": first["refresh_token"]}
    second = client.post("/api/auth/token/refresh", json=body).json  # the same session
    assert claims_of(first)["sid"] == claims_of(second)["sid"]
    assert claims_of(first)["sid"] != claims_of(login(client).json)["sid"]
    client.post("/api/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert not signed_in(client, first) and not signed_in(client, second)


def claims_of(pair: dict) -> dict:
    return jwt.decode(pair["access_token"], options={"verify_signature": False})


def test_the_session_claim_is_no_secret_of_the_session(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    sid = claims_of(pair)["sid"]
    with auth_app.app_context():
        family = db.session.query(RefreshToken.family).scalar()
    assert sid and sid not in (family, pair["refresh_token"])
    assert sid not in pair["refresh_token"] and family not in pair["access_token"]


def test_a_token_from_before_sessions_were_named_works_until_it_expires(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    user = claims_of(pair)["sub"]
    old = {"access_token": make_token(auth_app, user)}  # no `sid`, as issued before
    assert "sid" not in claims_of(old)
    client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert not signed_in(client, pair)
    assert signed_in(client, old) and polls_take(client, old)


def test_signing_out_with_an_unknown_or_spent_refresh_token_changes_nothing(client, auth_app):
    pair = confirmed_resident(client, auth_app)
    assert client.post("/api/auth/logout", json={"refresh_token": "nonsense"}).status_code == 204
    assert signed_in(client, pair)
    body = {"refresh_token": pair["refresh_token"]}
    assert client.post("/api/auth/logout", json=body).status_code == 204
    assert client.post("/api/auth/logout", json=body).status_code == 204  # twice: the same
    assert not signed_in(client, pair)


def test_signing_out_again_and_again_lists_the_session_once(client, auth_app):
    """Whoever holds a refresh token cannot grow the list every service reads (nor its
    table) by signing out with it again and again: it grows with sessions only."""
    pair = confirmed_resident(client, auth_app)
    body = {"refresh_token": pair["refresh_token"]}
    for _ in range(5):
        assert client.post("/api/auth/logout", json=body).status_code == 204
    with auth_app.app_context():
        rows = db.session.scalars(db.select(SessionWithdrawal.sid)).all()
    assert rows == [claims_of(pair)["sid"]]
    assert not signed_in(client, pair)


def test_a_signed_out_session_is_listed_while_its_tokens_live_and_no_longer(client, auth_app):
    with auth_app.app_context():
        now = utcnow()
        withdraw_session(db.session, "fresh", now)
        withdraw_session(db.session, "old", now - timedelta(minutes=16))
        withdraw_session(db.session, "spent", now - timedelta(minutes=18))  # not even kept
        db.session.commit()
        assert access_withdrawals(db.session)["sessions"] == ["fresh", "old"]
        db.session.query(SessionWithdrawal).filter_by(sid="old").update(
            {"until": now - timedelta(seconds=1)}
        )
        db.session.commit()
        assert access_withdrawals(db.session)["sessions"] == ["fresh"]
        withdraw_session(db.session, "another", now)  # tidies the expired entries away
        db.session.commit()
        kept = sorted(db.session.scalars(db.select(SessionWithdrawal.sid)))
    assert kept == ["another", "fresh"]


def test_the_web_sign_out_takes_back_the_pages_access_token(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    elsewhere = login(client).json  # another browser of the same person
    page = client.get("/petitions?lang=en")
    secret = client.application.apps["web"].config["SECRET_KEY"]
    cookie = client.get_cookie("viche_session", domain="localhost").value
    copied = URLSafeTimedSerializer(secret, salt="viche.web.session").loads(cookie)
    assert signed_in(client, {"access_token": copied["access"]})
    assert client.post("/logout", data={"csrf": csrf(page)}).status_code == 303
    assert not signed_in(client, {"access_token": copied["access"]})
    assert signed_in(client, elsewhere)


def test_session_withdrawals_are_read_with_the_persons_and_survive_nonsense():
    answers = [
        {"withdrawals": [], "sessions": ["s1"]},
        {"withdrawals": [], "sessions": "nonsense"},
        {"withdrawals": [{"user_id": "7", "at": 10.0}]},  # an auth from before sessions
    ]
    withdrawals = Withdrawals(lambda: answers.pop(0), every_seconds=0)
    assert withdrawals.withdrawn({"sub": "7", "iat": 50.0, "sid": "s1"})
    assert withdrawals.withdrawn({"sub": "7", "iat": 50.0, "sid": "s1"})  # the list stays
    assert not withdrawals.withdrawn({"sub": "7", "iat": 50.0, "sid": "s1"})  # listed no more
    assert not withdrawals.withdrawn({"sub": "7", "iat": 50.0})
    assert not withdrawals.withdrawn({"sub": "7", "iat": 50.0, "sid": ["s1"]})


def _racing(client, auth_app, monkeypatch, held: str, first: str):
    """Sign out and renew one session at the same moment: `first` ("renewal" or
    "sign-out") runs until it holds its rows and waits inside `held` (a name in
    accounts/sessions.py) while the other starts; then both finish. The renewal's pair, or
    the exception it met."""
    import threading
    import time

    from sqlalchemy.orm import Session

    from services.auth.accounts import sessions
    from services.auth.accounts.settings import Settings

    pair = confirmed_resident(client, auth_app)
    settings = Settings.from_config(auth_app.config)
    with auth_app.app_context():
        engine = db.engine
    inside, go = threading.Event(), threading.Event()
    real = getattr(sessions, held)

    def waiting(*args, **kwargs):
        if threading.current_thread().name == first:
            inside.set()
            go.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(sessions, held, waiting)
    outcome: dict = {}

    def renewal():
        with auth_app.test_request_context("/"), Session(engine) as session:
            try:
                outcome["renewal"] = sessions.refresh(session, settings, pair["refresh_token"])
            except Exception as exc:
                outcome["renewal"] = exc

    def sign_out():
        with auth_app.test_request_context("/"), Session(engine) as session:
            sessions.logout(session, settings, pair["refresh_token"])

    jobs = {"renewal": renewal, "sign-out": sign_out}
    second = next(name for name in jobs if name != first)
    threads = [threading.Thread(target=jobs[first], name=first)]
    threads[0].start()
    assert inside.wait(10)
    threads.append(threading.Thread(target=jobs[second], name=second))
    threads[1].start()
    time.sleep(0.5)  # the second is waiting for the first's rows now
    go.set()
    for thread in threads:
        thread.join(10)
    return outcome["renewal"]


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent requests need a server database")
@pytest.mark.parametrize(
    ("first", "held"), [("renewal", "claims_for"), ("sign-out", "withdraw_session")]
)
def test_a_renewal_at_the_moment_of_sign_out_leaves_no_session_alive(
    client, auth_app, monkeypatch, first, held
):
    """Whoever copied a refresh token renews with it just as its owner signs out: the
    pair the renewal got (if it got one) is revoked with the session, or the renewal is
    refused; the session never lives on."""
    renewed = _racing(client, auth_app, monkeypatch, held, first)
    if isinstance(renewed, Exception):
        assert type(renewed).__name__ == "InvalidRefreshToken"
    else:
        again = {"refresh_token": renewed.refresh_token}
        assert client.post("/api/auth/token/refresh", json=again).status_code == 401
        assert not signed_in(client, {"access_token": renewed.access_token})
    with auth_app.app_context():
        alive = db.session.scalars(
            db.select(RefreshToken.id).where(RefreshToken.revoked_at.is_(None))
        ).all()
    assert alive == []
