"""The visitor's session: their tokens in a signed, HttpOnly cookie, a CSRF token, and
a notice for the next page.

The cookie is the only state; nothing is kept on the server. Forms carry the CSRF token
from the cookie, so another site cannot post on the visitor's behalf (SameSite=Lax is
the second lock). A page or form for signed-in visitors only says so with
`signed_in_page` or `signed_in_form`.
"""

from __future__ import annotations

import secrets
from functools import wraps
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import current_app, g, redirect, request, url_for
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.common.errors import Problem
from services.common.hashing import secrets_match

COOKIE = "viche_session"
MAX_AGE = 30 * 24 * 3600  # the refresh token decides sooner whether a session lives


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="viche.web.session")


def session() -> dict:
    """This request's session (read from the cookie once)."""
    if "web_session" not in g:
        raw = request.cookies.get(COOKIE)
        data = {}
        if raw:
            try:
                data = _serializer().loads(raw, max_age=MAX_AGE)
            except BadSignature:
                data = {}
        g.web_session = data if isinstance(data, dict) else {}
        g.web_session_changed = False
    return g.web_session


def update_session(**changes) -> None:
    session().update(changes)
    g.web_session_changed = True


def clear_session() -> None:
    session().clear()
    g.web_session_changed = True


def leave_notice(message: str) -> None:
    """Say `message` (untranslated, marked with N_) on the next page shown, in that
    page's language (after a redirect: "The role is granted.")."""
    update_session(notice=message)


def take_notice() -> str | None:
    """The notice left for this page, once."""
    notice = session().pop("notice", None)
    if notice is None:
        return None
    g.web_session_changed = True
    return gettext(notice)


def signed_in() -> bool:
    """Whether the visitor has signed in (the session holds their tokens)."""
    return bool(session().get("access"))


def csrf_token() -> str:
    token = session().get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        update_session(csrf=token)
    return token


def check_csrf() -> None:
    """Refuse a form that did not come from our own page."""
    offered = request.form.get("csrf", "")
    expected = session().get("csrf", "")
    if not expected or not secrets_match(offered, expected):
        raise Problem(
            gettext("The form has expired. Reload the page and try again."),
            slug="forbidden",
            status=403,
        )


def page_shown() -> tuple[str, dict[str, str]]:
    """The address (path, query) of the page the visitor is on. A page answering a form
    (a POST) has no address of its own to show again: the page the form was on, if it
    is one of ours, else the front page."""
    if request.method == "GET":
        return request.script_root + request.path, request.args.to_dict()
    came_from = urlsplit(request.referrer or "")
    if came_from.netloc != request.host or not came_from.path:
        return "/", {}
    return came_from.path, dict(parse_qsl(came_from.query))


def sign_in_first(back: str | None = None):
    """To the sign-in page, and from there `back`, or else back to the page the visitor
    is on (for a form, the page it was on: its own address may take no GET)."""
    if back is None:
        path, query = page_shown()
        back = f"{path}?{urlencode(query)}" if query else path
    return redirect(url_for("account.login", next=back), code=303)


def signed_in_page(view):
    """A page for signed-in visitors only: anyone else is sent to sign in first, then
    back (sign_in_first)."""

    @wraps(view)
    def page(*args, **kwargs):
        if not signed_in():
            return sign_in_first()
        return view(*args, **kwargs)

    page.requires_sign_in = True  # tests/web/test_signed_in_only.py tries every such route
    return page


def signed_in_form(view):
    """A form for signed-in visitors only: its CSRF token checked first (a form from
    another site is refused, whoever is signed in), then as signed_in_page."""
    page = signed_in_page(view)

    @wraps(page)
    def form(*args, **kwargs):
        check_csrf()
        return page(*args, **kwargs)

    return form


def save_session(response):
    """after_request: write the cookie back when the session changed; a page for a
    visitor with a session is private."""
    if g.get("web_session_changed"):
        secure = current_app.config.get("PUBLIC_URL", "").startswith("https://")
        response.set_cookie(
            COOKIE,
            _serializer().dumps(g.web_session),
            max_age=MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=secure,
            path="/",
        )
        response.headers["Cache-Control"] = "private, no-store"
        response.vary.add("Cookie")
    elif request.cookies.get(COOKIE) and "Cache-Control" not in response.headers:
        # A page for a visitor with a session holds what is theirs (their draft, their
        # receipt, its CSRF token): no cache keeps it, whether the session changed or not.
        response.headers["Cache-Control"] = "private, no-store"
        response.vary.add("Cookie")
    return response
