"""What a fuzzer throws at the API: each a 4xx problem that changes nothing, never a 500.

Ids beyond the database's integer, digits of other scripts, NUL characters and lone
surrogates that no database stores, JSON nested past the parser's depth, secrets
beyond ASCII where a constant-time comparison expects bytes.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from services.common.hashing import secrets_match
from services.common.inputs import IdConverter
from services.petitions.models import Petition, Signature
from services.polls.models import Poll
from tests.petitions.conftest import TEXT, open_petition
from tests.petitions.test_sponsors import submitted_with_sponsors

pytestmark = pytest.mark.usefixtures("councils")

BEYOND = ("2147483648", "99999999999999999999", "١")  # past PostgreSQL's integer; Arabic 1
PROBLEM = "application/problem+json"


def rows(app, model) -> int:
    with app.app_context():
        return app.extensions["sqlalchemy"].session.scalar(select(func.count()).select_from(model))


def routes_with_ids(app):
    for rule in app.url_map.iter_rules():
        ids = [
            name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)
        ]
        if ids:
            yield rule, ids


def test_every_route_knows_only_ids_the_database_can_hold(gateway):
    checked = 0
    for app in gateway.apps.values():
        assert app.url_map.converters["int"] is IdConverter
        client = app.test_client()
        for rule, ids in routes_with_ids(app):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                for value in BEYOND:
                    # Not rule.build: it would write the value through the converter.
                    path = re.sub(
                        r"<(?:(\w+):)?(\w+)>",
                        lambda m, value=value, ids=ids: value if m[2] in ids else "kyiv",
                        rule.rule,
                    )
                    answer = client.open(path, method=method, json={})
                    # 405: the path is another route's, with a string where the id was.
                    assert answer.status_code in (404, 405), (method, path, answer.status_code)
                    checked += 1
    assert checked > 60  # polls, petitions, auth and the web pages all have such routes


def test_ids_in_queries_and_forms_beyond_the_database(client, people, auth_app):
    listed = client.get("/api/polls/polls?after=99999999999999999999")
    assert listed.status_code == 422 and "after" in listed.json["errors"]
    for cursor in ([0, 10**20], [10**20, 1]):
        encoded = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode().rstrip("=")
        page = client.get(f"/api/petitions/petitions?sort=most_signed&cursor={encoded}")
        assert page.status_code == 422 and "cursor" in page.json["errors"]
    cancelled = client.post(
        "/api/polls/widget/pending/abc/cancel", data={"poll": "99999999999999999999"}
    )
    assert cancelled.status_code == 404  # the widget's page: no such pending vote
    notified = auth_app.test_client().post(
        "/internal/notifications",
        json={"user_ids": [2**40], "template": "petition_response", "context": {}},
        headers={
            "X-Viche-Internal-Token": auth_app.config["INTERNAL_TOKEN"],
            "X-Viche-Service": "petitions",
        },
    )
    assert notified.status_code == 422 and "user_ids.0" in notified.json["errors"]


@pytest.mark.parametrize(
    "title",
    ['"Ліхтарі \\u0000 на вулиці"', '"Ліхтарі \\ud800 на вулиці"', '"Ліхтарі \\uDFFF"'],
)
def test_text_no_database_can_store_is_refused(client, people, petitions_app, polls_app, title):
    author = people.resident(100)
    body = f'{{"council": "kyiv", "title": {title}, "text": "{TEXT}"}}'
    filed = client.post(
        "/api/petitions/petitions",
        data=body.encode(),
        headers={**author, "Content-Type": "application/json"},
    )
    assert filed.status_code == 422 and filed.mimetype == PROBLEM
    assert list(filed.json["errors"]) == ["title"]
    assert rows(petitions_app, Petition) == 0
    nested = client.post(
        "/api/polls/polls",
        data=b'{"council": "kyiv", "question": "?", "options": ["a", "b\\u0000"]}',
        headers={**people.moderator(), "Content-Type": "application/json"},
    )
    assert nested.status_code == 422 and list(nested.json["errors"]) == ["options.1"]
    assert rows(polls_app, Poll) == 0


def test_escaped_characters_that_are_fine_stay_fine(client, people):
    filed = client.post(
        "/api/petitions/petitions",
        data=(
            '{"council": "kyiv", "title": "Сквер \\ud83c\\udf33 і лавки \\\\u0000", '
            f'"text": "{TEXT}"}}'
        ).encode(),
        headers={**people.resident(100), "Content-Type": "application/json"},
    )
    assert filed.status_code == 201
    assert filed.json["title"] == "Сквер 🌳 і лавки \\u0000"  # a pair, and an escaped backslash


def test_nul_in_addresses_and_forms_is_refused(client):
    assert client.get("/api/petitions/petitions?q=a%00b").status_code == 400
    assert client.get("/api/polls/polls?council=a%00b").status_code == 400
    assert client.get("/api/auth/councils/a%00b").status_code == 400
    assert client.get("/api/petitions/councils/a%00b/policy").status_code == 400
    assert client.post("/api/polls/pending-votes/a%00b/cancel").status_code == 400
    for path, field in (("/api/auth/verify/form", "token"), ("/api/polls/votes/confirm", "proof")):
        form = client.post(path, data={field: "a\x00b"})
        assert form.status_code == 422 and form.json["errors"] == {
            field: ["The text holds a character that cannot be stored."]
        }


def test_json_nested_past_the_parser_is_invalid_json(client, people):
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    for path, headers in (
        ("/api/auth/login", {}),
        ("/api/polls/polls/1/email-votes", {}),
        ("/api/petitions/petitions", people.resident()),
    ):
        answer = client.post(
            path, data=deep, headers={**headers, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, path
        assert answer.json["type"] == "urn:viche:problem:invalid-json"


def test_who_may_call_is_asked_before_what_they_sent(client, auth_app):
    nonsense = {"council": 7, "title": None}
    anonymous = client.post("/api/petitions/petitions", json=nonsense)
    assert anonymous.status_code == 401  # not 422: fields are discussed with callers only
    outsider = auth_app.test_client().post("/internal/notifications", json=nonsense)
    assert outsider.status_code == 403


def test_times_beyond_any_meaning_are_refused(client, people, polls_app):
    for field, moment in (
        ("closes_at", "9999-12-31T23:59:59-14:00"),  # past year 9999 once in UTC
        ("opens_at", "0001-01-01T00:00:00+14:00"),  # before year 1 once in UTC
        ("opens_at", "2300-01-01T00:00:00Z"),  # a poll scheduled for ever
    ):
        created = client.post(
            "/api/polls/polls",
            json={
                "council": "kyiv",
                "question": "Так чи ні?",
                "options": ["Так", "Ні"],
                field: moment,
            },
            headers=people.moderator(),
        )
        assert created.status_code == 422 and field in created.json["errors"], moment
    assert rows(polls_app, Poll) == 0
    petition_id = open_petition(client, people)
    window = client.post(
        f"/api/petitions/petitions/{petition_id}/invalidations",
        json={"reason": "Підозрілі підписи", "signed_from": "0001-01-01T00:00:00+01:00"},
        headers=people.moderator(),
    )
    assert window.status_code == 422 and "signed_from" in window.json["errors"]


def test_only_web_origins_may_frame_the_widget(client, people):
    url = "/api/polls/councils/kyiv/policy"
    for origin in (
        "https://rada.example.ua:99999",
        "https://" + "a" * 300,
        "https://rada.example.ua/path",
        "https://rada.example.ua; script-src *",
        "javascript:alert(1)",
    ):
        refused = client.put(url, json={"widget_origins": [origin]}, headers=people.admin())
        assert refused.status_code == 422 and "widget_origins.0" in refused.json["errors"], origin
    taken = client.put(
        url, json={"widget_origins": ["https://rada.example.ua:8443"]}, headers=people.admin()
    )
    assert taken.status_code == 200


def test_only_council_addresses_name_councils(client, people, petitions_app):
    for council in ("kyiv?x", "kyiv#frag", "kyiv/roles", "kyiv\n", "Kyiv"):
        filed = client.post(
            "/api/petitions/petitions",
            json={"council": council, "title": "Ліхтарі на вулиці", "text": TEXT},
            headers=people.resident(100),
        )
        assert filed.status_code == 422, council
        assert filed.json["type"] == "urn:viche:problem:unknown-council"
    assert rows(petitions_app, Petition) == 0
    for path in ("kyiv%3Fx", "kyiv%23", "kyiv%0A"):
        for service in ("polls", "petitions"):
            assert client.get(f"/api/{service}/councils/{path}/policy").status_code == 404
        assert client.get(f"/api/auth/councils/{path}").status_code == 404


def test_secrets_beyond_ascii_are_compared_not_crashed_on(client, people):
    assert secrets_match("é", "é") and not secrets_match("é", "e")
    petition_id, token = submitted_with_sponsors(client, people)
    url = f"/api/petitions/petitions/{petition_id}/sponsorship"
    assert client.get(f"{url}?token=%C3%A9").status_code == 404  # not a link holder
    assert client.get(f"{url}?token={token}").status_code == 200
    sponsored = client.post(
        f"/api/petitions/petitions/{petition_id}/sponsors",
        json={"token": "é"},
        headers=people.resident(1),
    )
    assert sponsored.status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/api/petitions/petitions//1", "/api/polls/polls//1/results", "/api/auth/councils//"],
)
def test_doubled_slashes_name_nothing(client, path):
    """Not werkzeug's redirect with an HTML body: a 404 problem, for any method."""
    for method in ("GET", "POST"):
        response = client.open(path, method=method, json={})
        assert response.status_code == 404, (method, path)
        assert response.headers["Content-Type"] == PROBLEM


# Header values as a server hands them over: Latin-1 text, so bytes past ASCII arrive
# as characters like "é" wherever a client puts them.
HOSTILE_HEADERS = [
    ("Authorization", "Bearer é"),
    ("Authorization", "Bearer a.é.b"),
    ("Authorization", "Basic é"),
    ("Authorization", "Bearer " + "x" * 20000),
    ("Authorization", "Bearer"),
    ("Accept-Language", "é"),
    ("Accept-Language", "uk;q=é, en;q=1e400, ;;;"),
    ("If-None-Match", 'W/"é", *'),
    ("If-Modified-Since", "é"),
    ("X-Request-Id", "é" * 300),
    ("Cookie", "viche_lang=é; session=é"),
    ("Content-Type", "application/json; charset=é"),
    ("X-Forwarded-For", "é, 999.1.1.1"),
    ("Range", "bytes=é"),
]


@pytest.mark.parametrize(
    "name, value", HOSTILE_HEADERS, ids=[f"{n}:{v[:20]}" for n, v in HOSTILE_HEADERS]
)
def test_headers_beyond_ascii_or_reason_are_never_a_500(client, people, name, value):
    petition_id = open_petition(client, people)
    requests = [
        ("GET", "/api/petitions/petitions", None),
        ("GET", f"/api/petitions/petitions/{petition_id}", None),
        ("POST", f"/api/petitions/petitions/{petition_id}/signatures", {}),
        ("GET", "/api/auth/me", None),
        ("GET", "/api/auth/verify?token=x", None),
        ("GET", "/api/polls/polls", None),
        ("GET", "/", None),
        ("GET", "/petitions", None),
    ]
    for method, path, body in requests:
        response = client.open(path, method=method, json=body, headers={name: value})
        assert response.status_code < 500, (method, path, response.status_code)
    assert rows(client.application.apps["petitions"], Signature) == 0  # nobody signed


def test_a_token_naming_no_account_is_refused_by_auth(client, people):
    """Auth signs only account ids; a subject that is none is a 401, never a 500."""
    resident, admin = people.resident(1), people.admin("kyiv")  # subjects "r1", "akyiv"
    council = {"slug": "lviv", "name": "Львівська громада", "default_language": "uk"}
    for method, path, headers, body in (
        ("GET", "/api/auth/me", resident, None),
        ("DELETE", "/api/auth/me", resident, {"password": "a long enough passphrase"}),
        ("POST", "/api/auth/councils", admin, council),
        ("PATCH", "/api/auth/councils/kyiv", admin, {"name": "Київ"}),
        ("PUT", "/api/auth/councils/kyiv/roles/1/moderator", admin, None),
        ("DELETE", "/api/auth/councils/kyiv/roles/1/moderator", admin, None),
    ):
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["Content-Type"] == PROBLEM
