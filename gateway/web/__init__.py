"""The web UI and the API's front matter: home page, merged OpenAPI, docs page.

It uses the public APIs only, like any other client. It also answers every path no
service claims: a problem+json 404 for API clients, an HTML page for browsers.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, jsonify, make_response, render_template, request, send_from_directory
from flask_babel import gettext
from werkzeug.middleware.proxy_fix import ProxyFix

from services.common.app import security_headers
from services.common.config import SUPPORTED_LOCALES, check_production_safety, service_config
from services.common.councils import CouncilConverter
from services.common.errors import PROBLEM_CONTENT_TYPE, NotFound, init_errors, problem_response
from services.common.i18n import init_i18n, remember_language
from services.common.inputs import IdConverter, refuse_nul_in_request
from services.common.passwords import password_rules
from services.common.requests import configure_logging, init_request_ids

from .openapi import merged_document
from .ui.account import account_pages
from .ui.api import api
from .ui.council import council_pages
from .ui.filters import FILTERS
from .ui.pages import page_shown, pages
from .ui.session import csrf_token, save_session, take_notice

HERE = Path(__file__).parent
# The pages load their scripts, styles and frames (the poll widget) from this site only,
# and no inline script or style at all.
WEB_UI_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
LANGUAGE_NAMES = {
    "uk": "Українська",
    "en": "English",
    "ru": "Русский",
    "tr": "Türkçe",
    "hu": "Magyar",
}
# What a phone shows for each language, as sites in that language write it (not "UK"
# for Ukrainian: that reads as the United Kingdom).
LANGUAGE_SHORT_NAMES = {"uk": "УКР", "en": "EN", "ru": "РУС", "tr": "TR", "hu": "HU"}


def problems_as_pages(response):
    """after_request: a browser on one of our pages is shown an error as a page in its
    language (the form expired, too many tries…), not as problem+json; under /api/
    every client keeps problem+json."""
    if (
        response.mimetype != PROBLEM_CONTENT_TYPE
        or request.path.startswith("/api/")
        or not wants_html()
    ):
        return response
    problem = json.loads(response.get_data())
    page = make_response(
        render_template(
            "ui/message.html", ok=False, message=problem.get("detail") or problem["title"]
        ),
        response.status_code,
    )
    for name in ("Retry-After", "WWW-Authenticate", "Allow", "X-Request-ID"):
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html"
        and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]
    )


def create_app(config: Mapping | None = None) -> Flask:
    """The web app, mounted at / behind the gateway."""
    app = Flask("gateway.web", root_path=str(HERE))
    # Before any route is added:
    app.url_map.converters.update(int=IdConverter, council=CouncilConverter)
    app.config.update(service_config("web"))
    if config:
        app.config.update(config)
    check_production_safety({**app.config, "SQLALCHEMY_DATABASE_URI": "n/a"})
    configure_logging(app.config["LOG_LEVEL"])
    app.json.ensure_ascii = False
    init_request_ids(app)
    init_i18n(app)
    init_errors(app)
    app.before_request(refuse_nul_in_request)
    app.after_request(functools.partial(security_headers, policy=WEB_UI_POLICY))
    app.register_blueprint(pages)
    app.register_blueprint(account_pages)
    app.register_blueprint(council_pages)
    app.after_request(save_session)
    app.after_request(remember_language)
    app.after_request(problems_as_pages)  # registered last, so it runs first
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["take_notice"] = take_notice
    app.jinja_env.globals["password_rules"] = password_rules
    app.jinja_env.filters.update(FILTERS)
    if app.config.get("BEHIND_GATEWAY"):  # the visitor's address, as the gateway saw it
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    @app.context_processor
    def _language():
        return {
            "languages": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES],
            "language_short_names": LANGUAGE_SHORT_NAMES,
            "in_language": this_page_in,
        }

    @app.get("/")
    def home():
        councils = api("auth", "GET", "/councils", signed_in=False)
        return render_template(
            "home.html", councils=councils.body["councils"] if councils.ok else []
        )

    @app.get("/favicon.ico")
    def favicon():
        response = send_from_directory(HERE / "static", "favicon.svg", mimetype="image/svg+xml")
        response.cache_control.public, response.cache_control.max_age = True, 86400
        return response

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "service": "web"}

    @app.get("/api/openapi.json")
    def openapi_document():
        response = jsonify(merged_document())
        response.headers["Cache-Control"] = "public, max-age=60"
        return response

    @app.get("/api/docs")
    def api_docs():
        return render_template("docs.html", spec=merged_document())

    @app.errorhandler(404)
    def not_found(_exc):
        problem = NotFound(gettext("There is nothing at this address."))
        if not request.path.startswith("/api/") and wants_html():
            return render_template("not_found.html"), 404
        return problem_response(problem)

    return app


def this_page_in(language: str) -> str:
    """The address of the page being shown, in `language`, its other query kept."""
    path, query = page_shown()
    return f"{path}?{urlencode({**query, 'lang': language})}"
