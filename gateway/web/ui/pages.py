"""Pages for residents: petitions, polls, signing in and out, registering."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from services.common.app import public
from services.common.i18n import request_locale

from .api import api
from .session import check_csrf, clear_session, session, update_session

pages = Blueprint("pages", __name__)
# The pages' forms: each checks the CSRF token of the visitor's own session, and the API
# behind it decides what the visitor may do.
page_form = public("a page's form: CSRF-checked; the API behind it checks the visitor")

SORT_LABELS = {
    "newest": _l("Newest"),
    "most_signed": _l("Most signed"),
    "closing_soon": _l("Closing soon"),
}


def signed_in() -> bool:
    return bool(session().get("access"))


@pages.app_context_processor
def _visitor():
    return {"visitor_name": session().get("name") if signed_in() else None}


@pages.get("/petitions")
def petitions():
    query = {
        key: request.args[key]
        for key in ("q", "sort", "state", "council", "cursor")
        if request.args.get(key)
    }
    answer = api("petitions", "GET", "/petitions?" + urlencode(query), signed_in=False)
    return render_template(
        "ui/petitions.html",
        answer=answer,
        query=query,
        sorts=SORT_LABELS,
    )


@pages.get("/petitions/<int:petition_id>")
def petition(petition_id: int):
    answer = api("petitions", "GET", f"/petitions/{petition_id}")
    if answer.status == 404:
        abort(404)
    timeline = api("petitions", "GET", f"/petitions/{petition_id}/timeline")
    signers = api("petitions", "GET", f"/petitions/{petition_id}/signers", signed_in=False)
    return render_template(
        "ui/petition.html",
        answer=answer,
        petition=answer.body if answer.ok else None,
        timeline=timeline.body["timeline"] if timeline.ok else [],
        signers=signers.body["signers"] if signers.ok else None,
        signed_in=signed_in(),
        errors={},
        receipt=request.args.get("receipt"),
    )


@pages.post("/petitions/<int:petition_id>/sign")
@page_form
def sign(petition_id: int):
    check_csrf()
    if not signed_in():
        return redirect(url_for("pages.login", next=f"/petitions/{petition_id}"))
    answer = api(
        "petitions",
        "POST",
        f"/petitions/{petition_id}/signatures",
        {"notify": request.form.get("notify") == "on"},
    )
    if answer.ok:
        return redirect(
            url_for("pages.petition", petition_id=petition_id, receipt=answer.body["receipt"]),
            code=303,
        )
    shown = api("petitions", "GET", f"/petitions/{petition_id}")
    return (
        render_template(
            "ui/petition.html",
            answer=shown,
            petition=shown.body if shown.ok else None,
            timeline=[],
            signers=None,
            signed_in=True,
            errors=answer.errors(),
            receipt=None,
        ),
        answer.status,
    )


@pages.get("/polls/<int:poll_id>")
def poll(poll_id: int):
    """The poll's own page: the same widget a council embeds, and its results."""
    answer = api("polls", "GET", f"/polls/{poll_id}", signed_in=False)
    if answer.status == 404:
        abort(404)
    return render_template("ui/poll.html", poll=answer.body)


@pages.route("/login", methods=["GET", "POST"])
@page_form
def login():
    errors, form = {}, {"email": ""}
    if request.method == "POST":
        check_csrf()
        form["email"] = request.form.get("email", "")
        answer = api(
            "auth",
            "POST",
            "/login",
            {"email": form["email"], "password": request.form.get("password", "")},
            signed_in=False,
        )
        if answer.ok:
            update_session(access=answer.body["access_token"], refresh=answer.body["refresh_token"])
            me = api("auth", "GET", "/me")
            update_session(name=me.body.get("name") if me.ok else "")
            return redirect(_safe_next(request.args.get("next")), code=303)
        errors = answer.errors()
        return render_template("ui/login.html", errors=errors, form=form), answer.status
    return render_template("ui/login.html", errors=errors, form=form)


@pages.post("/logout")
@page_form
def logout():
    check_csrf()
    if session().get("refresh"):
        api("auth", "POST", "/logout", {"refresh_token": session()["refresh"]})
    clear_session()
    return redirect(url_for("home"), code=303)


@pages.route("/register", methods=["GET", "POST"])
@page_form
def register():
    fields = ("name", "email", "phone")
    form = {key: request.form.get(key, "") for key in fields}
    if request.method == "POST":
        check_csrf()
        answer = api(
            "auth",
            "POST",
            "/register",
            {**form, "password": request.form.get("password", ""), "locale": request_locale()},
            signed_in=False,
        )
        if answer.ok:
            return render_template("ui/registered.html", email=form["email"])
        return (
            render_template("ui/register.html", errors=answer.errors(), form=form),
            answer.status,
        )
    return render_template("ui/register.html", errors={}, form=form)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home")


@pages.route("/password/forgot", methods=["GET", "POST"])
@page_form
def forgot_password():
    """Ask for a reset link; the answer is the same whether the address is known or not."""
    form = {"email": request.form.get("email", "")}
    if request.method == "POST":
        check_csrf()
        answer = api("auth", "POST", "/password/forgot", form, signed_in=False)
        if answer.ok:
            return render_template("ui/forgot_sent.html", detail=answer.body.get("detail"))
        return (
            render_template("ui/forgot.html", errors=answer.errors(), form=form),
            answer.status,
        )
    return render_template("ui/forgot.html", errors={}, form=form)
