"""Access tokens taken back before they expire: a deleted account, a reset password, a
role taken away, a refresh token used twice. Every service refuses them within seconds
(each reads auth's list every ACCESS_WITHDRAWALS_SECONDS; here at every request)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import main as viche
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
from tests.petitions.conftest import submitted_petition

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
