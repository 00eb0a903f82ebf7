"""The embedded gateway: one process, the same policy as the distributed one."""

from __future__ import annotations

import pytest
from flask import Flask, request
from limits import parse_many
from werkzeug.test import Client

from gateway.embedded import EmbeddedGateway
from gateway.policy import GatewaySettings


@pytest.fixture
def strict(gateway):
    """The same in-process apps behind a gateway with tight limits and one CORS origin."""
    settings = GatewaySettings(
        cors_origins=frozenset({"https://council.example"}),
        rate_limits=tuple(parse_many("3/minute")),
        max_body_bytes=100,
    )
    return Client(EmbeddedGateway(gateway.apps, settings))


def test_each_prefix_reaches_its_service(client):
    for service in ("auth", "polls", "petitions"):
        assert client.get(f"/api/{service}/healthz").json["service"] == service
    assert client.get("/healthz").json == {"status": "ok", "service": "gateway"}


def test_unknown_paths_are_problem_404s(client):
    for path in ("/api/nothing", "/api/auth/nothing", "/nothing"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"
        assert response.json["instance"] == path


def test_browsers_get_an_html_404_page(client):
    response = client.get("/nothing", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_rate_limit_answers_429_with_retry_after(strict):
    for _ in range(3):
        assert strict.get("/api/polls/healthz").status_code == 200
    response = strict.get("/api/polls/healthz", headers={"Accept-Language": "uk"})
    assert response.status_code == 429
    assert response.json["type"] == "urn:viche:problem:rate-limited"
    assert response.json["title"] == "Забагато запитів"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Limits are per service: another one still answers.
    assert strict.get("/api/auth/healthz").status_code == 200


def test_a_browser_held_back_from_a_web_page_gets_a_page_in_its_language(strict):
    """Not the API's JSON in English: a page, in the language chosen on the site."""
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for _ in range(3):
        strict.get("/petitions", headers=browser)
    strict.set_cookie("viche_lang", "hu")
    page = strict.get("/petitions", headers=browser)
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert '<html lang="hu">' in page.text and "Túl sok kérés" in page.text
    assert int(page.headers["Retry-After"]) >= 1
    asked = strict.get("/petitions?lang=tr&q=%3Cb%3E", headers=browser)
    assert '<html lang="tr">' in asked.text and "<b>" not in asked.text
    # The API, and anything not asking for a page, still gets problem+json.
    api = strict.get("/api/petitions/healthz", headers=browser)
    assert api.status_code == 200
    for _ in range(3):
        strict.get("/api/petitions/healthz", headers=browser)
    refused = strict.get("/api/petitions/healthz", headers=browser)
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"


def test_one_ipv6_network_is_one_client(strict):
    for n in range(1, 4):
        here = {"REMOTE_ADDR": f"2001:db8:7:7::{n}"}
        assert strict.get("/api/polls/healthz", environ_base=here).status_code == 200
    same_network = {"REMOTE_ADDR": "2001:db8:7:7:ffff::9"}
    assert strict.get("/api/polls/healthz", environ_base=same_network).status_code == 429
    next_network = {"REMOTE_ADDR": "2001:db8:7:8::1"}
    assert strict.get("/api/polls/healthz", environ_base=next_network).status_code == 200


def test_oversized_body_is_refused_before_the_service(strict):
    response = strict.post("/api/polls/healthz", data=b"x" * 101)
    assert response.status_code == 413
    assert response.json["type"] == "urn:viche:problem:payload-too-large"


def test_cors_for_allowed_origins_only(strict):
    allowed = strict.get("/api/auth/healthz", headers={"Origin": "https://council.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://council.example"
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    other = strict.get("/api/auth/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_preflight(strict):
    headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }
    ok = strict.options("/api/polls/x", headers={"Origin": "https://council.example", **headers})
    assert ok.status_code == 204
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    refused = strict.options("/api/polls/x", headers={"Origin": "https://evil.example", **headers})
    assert refused.status_code == 403
    assert refused.json["type"] == "urn:viche:problem:forbidden"


def test_a_service_sees_its_prefix_and_no_internal_headers_from_outside():
    echo = Flask("echo")

    @echo.get("/<path:rest>")
    def show(rest):
        return {
            "script_root": request.script_root,
            "path": request.path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }

    client = Client(EmbeddedGateway({"polls": echo}, GatewaySettings()))
    response = client.get(
        "/api/polls/a%20b/c?x=1",
        headers={"X-Viche-Internal-Token": "guess", "X-Viche-Service": "auth"},
    )
    seen = response.json
    assert seen["script_root"] == "/api/polls"
    assert seen["path"] == "/a b/c"
    assert not [h for h in seen["headers"] if h.startswith("x-viche")]
    assert seen["headers"]["x-request-id"] == response.headers["X-Request-ID"]
