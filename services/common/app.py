"""The service app factory every service builds on.

`create_service_app` wires the kit in one order: config, logging, request ids, languages,
database, OpenAPI, the service's blueprints, problem+json handlers, body-type checks.
A service's own `create_app` names its database, migrations and blueprints; nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SessionInterface
from flask_babel import gettext
from flask_smorest import Api, Blueprint
from flask_sqlalchemy import SQLAlchemy
from marshmallow import Schema, fields
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import check_production_safety, service_config
from .councils import COUNCIL_SLUG, CouncilConverter
from .db import MIGRATIONS_KEY, init_database
from .errors import PROBLEM_CONTENT_TYPE, Problem, init_errors
from .health import health_blueprint
from .i18n import init_i18n
from .inputs import (
    IdConverter,
    configured_property,
    refuse_nul_in_request,
    storable_text_property,
)
from .requests import configure_logging, init_request_ids
from .tokens import init_tokens

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = frozenset({"application/json"})


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error is answered."""

    type = fields.String(required=True, metadata={"example": "urn:viche:problem:not-found"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages per field, for validation failures"},
    )


def _council_in_path(converter) -> dict:
    return {
        "type": "string",
        "pattern": f"^{COUNCIL_SLUG.pattern}$",
        "description": "the council's address: lowercase letters, digits and inner hyphens",
    }


class ServiceApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, **kwargs):
        super()._init_spec(**kwargs)
        self.ma_plugin.converter.add_attribute_function(storable_text_property)
        self.ma_plugin.converter.add_attribute_function(configured_property(self._app.config))
        self.register_converter(CouncilConverter, _council_in_path)

    def _register_responses(self):
        """Document error responses as they are sent: application/problem+json."""
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_CONTENT_TYPE
        try:
            super()._register_responses()
        finally:
            del self.DEFAULT_RESPONSE_CONTENT_TYPE  # success bodies stay application/json


def accepts(*mimetypes: str) -> Callable:
    """Let a view take request bodies other than JSON (an HTML form's POST, say)."""

    def mark(view):
        view.accepted_body_types = frozenset(mimetypes)
        return view

    return mark


def _check_body_type() -> None:
    """415 for a body in a type the endpoint does not read, before it is parsed as nothing."""
    if request.method not in BODY_METHODS or request.endpoint is None:
        return
    if not request.content_length and request.headers.get("Transfer-Encoding") is None:
        return
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    method_view = getattr(view_class, request.method.lower(), None) if view_class else None
    accepted = getattr(method_view or view, "accepted_body_types", JSON_TYPES)
    if request.mimetype not in accepted:
        raise Problem(
            gettext("Send the request body as %(types)s.", types=", ".join(sorted(accepted))),
            slug="unsupported-media-type",
        )


class JsonProvider(DefaultJSONProvider):
    """JSON as the OpenAPI document promises it: times in RFC 3339 (Flask would write
    an HTTP date), and Ukrainian readable rather than escaped."""

    ensure_ascii = False

    @staticmethod
    def default(o):
        if isinstance(o, datetime | date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


class NoCookieSessions(SessionInterface):
    """Services keep no cookie session (the access token says who calls), so none is
    opened: Flask's default would build a signing serializer on every request."""

    def open_session(self, app, request):
        return None  # Flask hands the view a null session instead

    def save_session(self, app, session, response) -> None:
        pass


# The services' own pages (auth's link pages, the dev outbox) carry their style inline
# and run no script; JSON needs nothing at all. Should markup ever slip through
# escaping, it can load and run nothing.
SERVICE_PAGES_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def security_headers(response, policy: str = SERVICE_PAGES_POLICY):
    """What a page may load and run, and that nobody may frame it, unless it says
    otherwise itself (the poll widget names the council's sites); no sniffing."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = policy
        headers.setdefault("X-Frame-Options", "DENY")
    return response


def create_service_app(
    name: str,
    *,
    db: SQLAlchemy,
    blueprints: Iterable,
    config: Mapping | None = None,
    title: str,
    description: str,
    migrations: Path,
    fetch_jwks: Callable[[], dict] | None = None,
    fetch_withdrawals: Callable[..., dict] | None = None,
) -> Flask:
    """Build a service app with the whole kit in place."""
    app = Flask(f"services.{name}", root_path=str(Path(__file__).parents[1] / name))
    # Before any route is added:
    app.url_map.converters.update(int=IdConverter, council=CouncilConverter)
    # "//" in a path names nothing: a 404 problem, not werkzeug's HTML redirect.
    app.url_map.merge_slashes = False
    app.config.update(service_config(name))
    app.config.update(
        API_TITLE=title,
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"info": {"description": description}},
        JSON_SORT_KEYS=False,
    )
    if config:
        app.config.update(config)
    check_production_safety(app.config)
    configure_logging(app.config["LOG_LEVEL"])
    app.json = JsonProvider(app)
    app.session_interface = NoCookieSessions()

    init_request_ids(app)
    init_i18n(app)
    init_database(app, db)
    api = ServiceApi(app)
    api.register_blueprint(health_blueprint(db))
    for blueprint in blueprints:
        # API blueprints go into the OpenAPI document; plain Flask ones (HTML pages
        # such as the dev outbox) do not.
        if isinstance(blueprint, Blueprint):
            api.register_blueprint(blueprint)
        else:
            app.register_blueprint(blueprint)
    init_errors(app)
    init_tokens(app, fetch_jwks, fetch_withdrawals)
    app.before_request(refuse_nul_in_request)
    app.before_request(_check_body_type)
    app.after_request(security_headers)
    app.extensions["viche.api"] = api
    app.extensions[MIGRATIONS_KEY] = (db, migrations)

    if app.config.get("BEHIND_GATEWAY"):
        # Distributed mode: the gateway is the only client and says who called and under
        # which prefix, so links and client addresses come out right.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)
    return app


def public(reason: str) -> Callable:
    """Mark a write endpoint that anyone may call (registration, login); say why.

    tests/kit/test_route_protection.py fails for a write endpoint that neither requires
    a token (tokens.token_required), nor a calling service, nor is marked public.
    """

    def mark(view):
        view.public_reason = reason
        return view

    return mark
