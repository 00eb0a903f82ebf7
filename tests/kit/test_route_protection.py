"""Every write endpoint says who may call it (STYLE.md: protection that a test enforces).

A POST, PUT, PATCH or DELETE must require an access token (`token_required`), a calling
service (`requires_service`), or be marked `public("why")`. A new endpoint that forgets
all three fails here before it ships.
"""

from __future__ import annotations

from flask import Flask
from flask.views import MethodView

from services.common.app import public
from services.common.tokens import token_required

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MARKS = ("requires_token", "requires_service", "public_reason")


def _handlers(app, rule):
    view = app.view_functions[rule.endpoint]
    view_class = getattr(view, "view_class", None)
    for method in sorted(rule.methods & WRITE_METHODS):
        handler = getattr(view_class, method.lower(), None) if view_class else view
        yield method, handler


def _marked(handler) -> bool:
    seen = set()
    while handler is not None and id(handler) not in seen:  # look through decorators
        seen.add(id(handler))
        if any(getattr(handler, mark, None) for mark in MARKS):
            return True
        handler = getattr(handler, "__wrapped__", None)
    return False


def unprotected_endpoints(apps) -> list[str]:
    return [
        f"{name}: {method} {rule.rule}"
        for name, app in apps.items()
        for rule in app.url_map.iter_rules()
        for method, handler in _handlers(app, rule)
        if not _marked(handler)
    ]


def test_every_write_endpoint_declares_who_may_call_it(gateway):
    unprotected = unprotected_endpoints(gateway.apps)
    assert not unprotected, "write endpoints with no declared caller:\n" + "\n".join(unprotected)


def test_the_check_finds_a_forgotten_endpoint():
    app = Flask("probe")

    @app.post("/open")
    def forgotten():
        return {}

    @app.post("/signup")
    @public("anyone may sign up")
    def signup():
        return {}

    @app.delete("/mine")
    @token_required
    def mine():
        return {}

    class Things(MethodView):
        def put(self):
            return {}

    app.add_url_rule("/things", view_func=Things.as_view("things"))
    assert unprotected_endpoints({"probe": app}) == [
        "probe: POST /open",
        "probe: PUT /things",
    ]
