"""Councils and roles: admins act in their own council only."""

from __future__ import annotations

import jwt
import pytest
from click.testing import CliRunner

from gateway.cli import main as viche
from services.auth.councils.models import RoleChange
from services.auth.models import db
from tests.auth.helpers import bearer, confirmed_resident, login


@pytest.fixture
def councils(auth_app):
    runner = CliRunner()
    for slug, name in (("kyiv", "Київська громада"), ("oliivka", "Оліївська громада")):
        result = runner.invoke(viche, ["auth", "create-council", slug, name, "--language", "uk"])
        assert result.exit_code == 0, result.output
    return ("kyiv", "oliivka")


def user_id(pair) -> int:
    return int(jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"])


def claims(client, email) -> dict:
    return jwt.decode(
        login(client, email).json["access_token"], options={"verify_signature": False}
    )


def test_councils_are_public(client, councils):
    listed = client.get("/api/auth/councils")
    assert listed.status_code == 200 and "ETag" in listed.headers
    assert [c["slug"] for c in listed.json["councils"]] == ["kyiv", "oliivka"]
    assert client.get("/api/auth/councils/kyiv").json["name"] == "Київська громада"
    missing = client.get("/api/auth/councils/atlantis")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_the_cli_refuses_a_bad_or_duplicate_council(councils):
    runner = CliRunner()
    assert runner.invoke(viche, ["auth", "create-council", "Bad Slug!", "x"]).exit_code != 0
    assert runner.invoke(viche, ["auth", "create-council", "kyiv", "Again"]).exit_code != 0


def test_a_platform_admin_grants_roles_by_number_and_tokens_carry_them(client, auth_app, councils):
    admin = confirmed_resident(client, auth_app, "admin@kyiv.example")
    resident = confirmed_resident(client, auth_app, "resident@example.org")
    result = CliRunner().invoke(
        viche, ["auth", "grant-role", "kyiv", "admin@kyiv.example", "admin"]
    )
    assert result.exit_code == 0, result.output
    admin = login(client, "admin@kyiv.example").json
    by_number = f"/api/auth/councils/kyiv/roles/{user_id(resident)}/moderator"
    # A council's admin invites by email: a number would tell whose account it is.
    refused = client.put(by_number, headers=bearer(admin))
    assert refused.status_code == 403 and "Invite people by email" in refused.json["detail"]
    assert claims(client, "resident@example.org")["roles"] == {}
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "admin@kyiv.example"])
    admin = login(client, "admin@kyiv.example").json
    granted = client.put(by_number, headers=bearer(admin))
    assert granted.status_code == 204
    assert claims(client, "resident@example.org")["roles"] == {"kyiv": ["moderator"]}
    roles = client.get("/api/auth/councils/kyiv/roles", headers=bearer(admin)).json["roles"]
    assert {(r["user_id"], r["role"]) for r in roles} == {
        (user_id(admin), "admin"),
        (user_id(resident), "moderator"),
    }
    assert (
        client.delete(
            f"/api/auth/councils/kyiv/roles/{user_id(resident)}/moderator", headers=bearer(admin)
        ).status_code
        == 204
    )
    assert claims(client, "resident@example.org")["roles"] == {}
    with auth_app.app_context():
        actions = [c.action for c in db.session.query(RoleChange).order_by(RoleChange.id)]
    assert actions == ["grant", "grant", "revoke"]


def test_an_admin_of_one_council_has_no_power_in_another(client, auth_app, councils):
    admin = confirmed_resident(client, auth_app, "admin@kyiv.example")
    victim = confirmed_resident(client, auth_app, "someone@example.org")
    CliRunner().invoke(viche, ["auth", "grant-role", "kyiv", "admin@kyiv.example", "admin"])
    admin = login(client, "admin@kyiv.example").json
    for method in (client.put, client.delete):
        response = method(
            f"/api/auth/councils/oliivka/roles/{user_id(victim)}/admin", headers=bearer(admin)
        )
        assert response.status_code == 403
        assert response.json["type"] == "urn:viche:problem:forbidden"
    assert client.get("/api/auth/councils/oliivka/roles", headers=bearer(admin)).status_code == 403
    assert claims(client, "someone@example.org")["roles"] == {}


def test_moderators_and_residents_cannot_grant(client, auth_app, councils):
    moderator = confirmed_resident(client, auth_app, "mod@kyiv.example")
    resident = confirmed_resident(client, auth_app, "resident@example.org")
    CliRunner().invoke(viche, ["auth", "grant-role", "kyiv", "mod@kyiv.example", "moderator"])
    moderator = login(client, "mod@kyiv.example").json
    for actor in (moderator, resident):
        response = client.put(
            f"/api/auth/councils/kyiv/roles/{user_id(resident)}/admin", headers=bearer(actor)
        )
        assert response.status_code == 403
    assert client.put(f"/api/auth/councils/kyiv/roles/{user_id(resident)}/admin").status_code == 401


def test_a_revoked_admin_is_refused_at_once_despite_a_live_token(client, auth_app, councils):
    admin = confirmed_resident(client, auth_app, "admin@kyiv.example")
    other = confirmed_resident(client, auth_app, "other@example.org")
    CliRunner().invoke(viche, ["auth", "grant-role", "kyiv", "admin@kyiv.example", "admin"])
    admin = login(client, "admin@kyiv.example").json  # a token that says "admin of kyiv"
    with auth_app.app_context():
        from services.auth.councils.domain import revoke_role

        revoke_role(db.session, actor_id=None, slug="kyiv", user_id=user_id(admin), role="admin")
    response = client.put(
        f"/api/auth/councils/kyiv/roles/{user_id(other)}/moderator", headers=bearer(admin)
    )
    # 403 from the roles auth reads; 401 once the withdrawn token is known (within
    # ACCESS_WITHDRAWALS_SECONDS): refused either way, and nothing granted.
    assert response.status_code in (401, 403)
    assert "moderator" not in claims(client, "other@example.org").get("roles", {}).get("kyiv", [])


def test_only_platform_admins_add_councils(client, auth_app, councils):
    resident = confirmed_resident(client, auth_app, "resident@example.org")
    body = {"slug": "lviv", "name": "Львівська громада", "default_language": "uk"}
    assert client.post("/api/auth/councils", json=body, headers=bearer(resident)).status_code == 403
    result = CliRunner().invoke(viche, ["auth", "grant-platform-admin", "resident@example.org"])
    assert result.exit_code == 0, result.output
    platform = login(client, "resident@example.org").json
    assert (
        jwt.decode(platform["access_token"], options={"verify_signature": False})["platform_admin"]
        is True
    )
    assert client.post("/api/auth/councils", json=body, headers=bearer(platform)).status_code == 201
    duplicate = client.post("/api/auth/councils", json=body, headers=bearer(platform))
    assert duplicate.status_code == 409
    bad = client.post(
        "/api/auth/councils", json={**body, "slug": "Not OK"}, headers=bearer(platform)
    )
    assert bad.status_code == 422 and "slug" in bad.json["errors"]
    for slug in ("lviv\n", "lviv?x", "lviv/roles", "-lviv", "lviv-", "львів"):
        bad = client.post(
            "/api/auth/councils", json={**body, "slug": slug}, headers=bearer(platform)
        )
        assert bad.status_code == 422 and "slug" in bad.json["errors"], slug


def test_unknown_roles_and_accounts_are_404(client, auth_app, councils):
    admin = confirmed_resident(client, auth_app, "admin@kyiv.example")
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "admin@kyiv.example"])
    admin = login(client, "admin@kyiv.example").json
    assert (
        client.put(
            f"/api/auth/councils/kyiv/roles/{user_id(admin)}/king", headers=bearer(admin)
        ).status_code
        == 404
    )
    assert (
        client.put(
            "/api/auth/councils/kyiv/roles/999999/moderator", headers=bearer(admin)
        ).status_code
        == 404
    )


def test_a_council_has_a_time_zone_from_the_cli_or_the_installation(client, councils):
    assert client.get("/api/auth/councils/kyiv").json["time_zone"] == "Europe/Kyiv"
    made = CliRunner().invoke(
        viche,
        ["auth", "create-council", "szeged", "Szeged", "--time-zone", "Europe/Budapest"],
    )
    assert made.exit_code == 0, made.output
    assert client.get("/api/auth/councils/szeged").json["time_zone"] == "Europe/Budapest"
    listed = {c["slug"]: c["time_zone"] for c in client.get("/api/auth/councils").json["councils"]}
    assert listed == {"kyiv": "Europe/Kyiv", "oliivka": "Europe/Kyiv", "szeged": "Europe/Budapest"}
    refused = CliRunner().invoke(
        viche, ["auth", "create-council", "atlantis", "Atlantis", "--time-zone", "Atlantis/Capital"]
    )
    assert refused.exit_code != 0 and "time_zone" in refused.output
    assert client.get("/api/auth/councils/atlantis").status_code == 404


def test_a_councils_admins_change_its_time_zone_and_nobody_else(client, auth_app, councils):
    admin = confirmed_resident(client, auth_app, "admin@kyiv.example")
    stranger = confirmed_resident(client, auth_app, "stranger@example.org")
    CliRunner().invoke(viche, ["auth", "grant-role", "kyiv", "admin@kyiv.example", "admin"])
    CliRunner().invoke(viche, ["auth", "grant-role", "oliivka", "stranger@example.org", "admin"])
    admin = login(client, "admin@kyiv.example").json
    stranger = login(client, "stranger@example.org").json  # an admin, of another council
    changed = client.patch(
        "/api/auth/councils/kyiv", json={"time_zone": "Europe/Istanbul"}, headers=bearer(admin)
    )
    assert changed.status_code == 200 and changed.json["time_zone"] == "Europe/Istanbul"
    assert changed.json["name"] == "Київська громада"  # what was not given stays
    assert client.get("/api/auth/councils/kyiv").json["time_zone"] == "Europe/Istanbul"

    for body in ({"time_zone": "Mars/Olympus"}, {"time_zone": "../../etc/passwd"}):
        invalid = client.patch(
            "/api/auth/councils/kyiv?lang=uk", json={**body, "name": "X"}, headers=bearer(admin)
        )
        assert invalid.status_code == 422
        assert invalid.mimetype == "application/problem+json"
        assert invalid.json["errors"]["time_zone"] == [
            "Вкажіть часовий пояс, наприклад Europe/Kyiv."
        ]
    refused = client.patch(
        "/api/auth/councils/kyiv", json={"time_zone": "Europe/Budapest"}, headers=bearer(stranger)
    )
    assert refused.status_code == 403
    # Checked and not made: the settings page asks every service before it changes any.
    check = "/api/auth/councils/kyiv?check_only=true"
    checked = client.patch(check, json={"time_zone": "Europe/Budapest"}, headers=bearer(admin))
    assert checked.status_code == 200 and checked.json["time_zone"] == "Europe/Istanbul"
    assert (
        client.patch(check, json={"time_zone": "Mars/Olympus"}, headers=bearer(admin)).status_code
        == 422
    )
    assert (
        client.patch(check, json={"time_zone": "UTC"}, headers=bearer(stranger)).status_code == 403
    )
    assert client.patch("/api/auth/councils/kyiv", json={"time_zone": "UTC"}).status_code == 401
    council = client.get("/api/auth/councils/kyiv").json
    assert council["time_zone"] == "Europe/Istanbul" and council["name"] == "Київська громада"


def test_a_platform_admin_changes_any_councils_time_zone(client, auth_app, councils):
    confirmed_resident(client, auth_app, "platform@example.org")
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "platform@example.org"])
    platform = login(client, "platform@example.org").json
    changed = client.patch(
        "/api/auth/councils/oliivka",
        json={"time_zone": "Europe/Budapest", "default_language": "hu"},
        headers=bearer(platform),
    )
    assert changed.status_code == 200
    assert changed.json["time_zone"] == "Europe/Budapest"
    assert changed.json["default_language"] == "hu"
    created = client.post(
        "/api/auth/councils",
        json={"slug": "izmir", "name": "İzmir", "default_language": "tr", "time_zone": "Nowhere"},
        headers=bearer(platform),
    )
    assert created.status_code == 422 and "time_zone" in created.json["errors"]


def test_a_councils_name_reads_as_it_is_written(client, auth_app, councils):
    """Its name heads its pages: no bidirectional controls, no second line."""
    confirmed_resident(client, auth_app, "platform@example.org")
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "platform@example.org"])
    platform = bearer(login(client, "platform@example.org").json)
    one_line = "Write one line, without line breaks or invisible control characters."
    for name in ("Львів \u202eадамог\u202c", "\u2067Львів\u2069", "Львів\nОФІЦІЙНО"):
        body = {"slug": "lviv", "name": name, "default_language": "uk"}
        created = client.post("/api/auth/councils?lang=en", json=body, headers=platform)
        assert created.status_code == 422 and created.mimetype == "application/problem+json"
        assert created.json["errors"] == {"name": [one_line]}, name
        changed = client.patch(
            "/api/auth/councils/kyiv?lang=en", json={"name": name}, headers=platform
        )
        assert changed.status_code == 422 and changed.json["errors"] == {"name": [one_line]}
    assert client.get("/api/auth/councils/lviv").status_code == 404
    assert client.get("/api/auth/councils/kyiv").json["name"] == "Київська громада"


def test_a_too_long_name_is_refused_alike_on_creation_and_on_a_change(client, auth_app, councils):
    """The same field checks a council's name either way: one problem, one message."""
    confirmed_resident(client, auth_app, "platform@example.org")
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "platform@example.org"])
    platform = bearer(login(client, "platform@example.org").json)
    name = "Вишнівська сільська територіальна громада " * 5  # 210 characters
    for language, message in (
        ("en", "Give from 1 to 200 characters."),
        ("uk", None),  # whatever the catalogue says, the same both ways
    ):
        body = {"slug": "vyshneve", "name": name, "default_language": "uk"}
        created = client.post(f"/api/auth/councils?lang={language}", json=body, headers=platform)
        answers = [created]
        for check_only in ("false", "true"):
            answers.append(
                client.patch(
                    f"/api/auth/councils/kyiv?lang={language}&check_only={check_only}",
                    json={"name": name},
                    headers=platform,
                )
            )
        for answer in answers:
            assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
        bodies = [
            {k: v for k, v in a.json.items() if k not in ("instance", "request_id")}
            for a in answers
        ]
        assert bodies[0]["type"] == "urn:viche:problem:validation-failed", bodies[0]
        assert bodies[1] == bodies[0] == bodies[2], bodies
        assert list(bodies[0]["errors"]) == ["name"]
        if message is not None:
            assert bodies[0]["errors"]["name"] == [message]
    # Nothing changed, nothing was made; 200 characters are taken both ways.
    assert client.get("/api/auth/councils/kyiv").json["name"] == "Київська громада"
    assert client.get("/api/auth/councils/vyshneve").status_code == 404
    longest = name[:200]
    changed = client.patch("/api/auth/councils/kyiv", json={"name": longest}, headers=platform)
    assert changed.status_code == 200 and changed.json["name"] == longest.strip()
    body = {"slug": "vyshneve", "name": longest, "default_language": "uk"}
    assert client.post("/api/auth/councils", json=body, headers=platform).status_code == 201


def test_a_blank_name_is_refused_with_a_request_for_a_name(client, auth_app, councils):
    confirmed_resident(client, auth_app, "platform@example.org")
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "platform@example.org"])
    platform = bearer(login(client, "platform@example.org").json)
    for language, message in (("en", "Give the council a name."), ("uk", "Дайте громаді назву.")):
        body = {"slug": "blank", "name": "   ", "default_language": "uk"}
        created = client.post(f"/api/auth/councils?lang={language}", json=body, headers=platform)
        changed = client.patch(
            f"/api/auth/councils/kyiv?lang={language}", json={"name": " "}, headers=platform
        )
        for answer in (created, changed):
            assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
            assert answer.json["errors"] == {"name": [message]}
    assert client.get("/api/auth/councils/blank").status_code == 404
    assert client.get("/api/auth/councils/kyiv").json["name"] == "Київська громада"
