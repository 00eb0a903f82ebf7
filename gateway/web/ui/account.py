"""A visitor's own account: signing in and out, registering, a forgotten password, and
the account page (phone verification, a new address or number, the password, the data
export, deleting the account). Each page calls auth's API with the visitor's tokens."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from services.common.errors import N_
from services.common.i18n import request_locale

from .api import api, renew_tokens
from .filters import phone_number
from .pages import not_now, page_form, token_roles
from .session import (
    check_csrf,
    clear_session,
    leave_notice,
    session,
    signed_in_form,
    signed_in_page,
    update_session,
)

account_pages = Blueprint("account", __name__)


@account_pages.route("/login", methods=["GET", "POST"])
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
            update_session(roles=token_roles(answer.body["access_token"]))
            me = api("auth", "GET", "/me")
            update_session(name=me.body.get("name") if me.ok else "")
            return redirect(_safe_next(request.args.get("next")), code=303)
        errors = answer.errors()
        return render_template("ui/login.html", errors=errors, form=form), answer.status
    return render_template("ui/login.html", errors=errors, form=form)


@account_pages.post("/logout")
@page_form
def logout():
    check_csrf()
    if session().get("refresh"):
        api("auth", "POST", "/logout", {"refresh_token": session()["refresh"]})
    clear_session()
    return redirect(url_for("home"), code=303)


@account_pages.route("/register", methods=["GET", "POST"])
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
    # "//host" and "/\host" both leave the site in browsers; so would control characters.
    if (
        target
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and "\\" not in target
        and target.isprintable()
    ):
        return target
    return url_for("home")


@account_pages.route("/password/forgot", methods=["GET", "POST"])
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


@account_pages.get("/account")
@signed_in_page
def account():
    return _account_page()


@account_pages.post("/account/phone/code")
@page_form
@signed_in_form
def phone_code():
    sent = api("auth", "POST", "/phone/code")
    if sent.ok:
        return _account_page(notice=sent.body.get("detail"))
    return _account_page(errors=sent.errors(), status=sent.status)


@account_pages.post("/account/phone/verify")
@page_form
@signed_in_form
def phone_verify():
    verified = api("auth", "POST", "/phone/verify", {"code": request.form.get("code", "")})
    if verified.ok:
        renew_tokens()  # the access token must now say the phone is verified
        leave_notice(N_("Your phone number is verified."))
        return redirect(url_for("account.account"), code=303)
    return _account_page(errors=verified.errors(), status=verified.status)


@account_pages.post("/account/email/resend")
@page_form
@signed_in_form
def resend_confirmation():
    """The link to confirm the address, sent again (auth sends at most one a minute)."""
    me = api("auth", "GET", "/me")
    if not me.ok:
        return _account_page()  # it knows what to do without an account
    sent = api("auth", "POST", "/email/resend", {"email": me.body["email"]}, signed_in=False)
    if not sent.ok:
        return _account_page(errors=sent.errors(), status=sent.status)
    return _account_page(notice=sent.body.get("detail"))


@account_pages.get("/account/export")
@signed_in_page
def export_my_data():
    """The visitor's data as the API exports it, downloaded as a JSON file."""
    exported = api("auth", "GET", "/me/export")
    if not exported.ok:
        return not_now(exported)
    response = jsonify(exported.body)
    response.headers["Content-Disposition"] = 'attachment; filename="viche-my-data.json"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _account_page(errors: dict | None = None, notice: str | None = None, status: int = 200):
    me = api("auth", "GET", "/me")
    if me.status == 401:  # the account is gone (or the session, and api() knew it not)
        clear_session()
        return redirect(url_for("account.login"), code=303)
    if not me.ok:  # a passing outage, mostly: the session lives on
        return not_now(me)
    return (
        render_template("ui/account.html", me=me.body, errors=errors or {}, notice=notice),
        status,
    )


@account_pages.post("/account/password")
@page_form
@signed_in_form
def change_password():
    """A new password, given with the current one: every other session ends, this one
    goes on with the tokens auth hands back."""
    answer = api(
        "auth",
        "POST",
        "/password/change",
        {
            "current_password": request.form.get("current_password", ""),
            "new_password": request.form.get("new_password", ""),
        },
    )
    if not answer.ok:
        errors = answer.errors()
        if "form" in errors:  # too many wrong passwords, mostly: said beside the field
            errors["current_password"] = errors.pop("form")
        return _account_page(errors=errors, status=answer.status)
    update_session(
        access=answer.body["access_token"],
        refresh=answer.body["refresh_token"],
        roles=token_roles(answer.body["access_token"]),
    )
    leave_notice(N_("Your password is changed. Every other session is signed out."))
    return redirect(url_for("account.account"), code=303)


@account_pages.post("/account/name")
@page_form
@signed_in_form
def change_name():
    """The name one signs with. The tokens are renewed at once: the next signature,
    and the menu, carry the new name."""
    answer = api("auth", "PATCH", "/me", {"name": request.form.get("name", "")})
    if not answer.ok:
        return _account_page(errors=answer.errors(), status=answer.status)
    renew_tokens()
    update_session(name=answer.body["name"])
    leave_notice(N_("Your name is changed. The petitions you sign from now on show it."))
    return redirect(url_for("account.account"), code=303)


@account_pages.post("/account/<change>")
@page_form
@signed_in_form
def change_contact(change: str):
    """A new email address or phone number; each counts once verified again."""
    if change not in ("email", "phone"):
        abort(404)
    answer = api(
        "auth",
        "POST",
        f"/me/{change}",
        {change: request.form.get(change, ""), "password": request.form.get("password", "")},
    )
    if not answer.ok:
        errors = {f"new_{key}" if key == change else key: v for key, v in answer.errors().items()}
        return _account_page(errors=errors, status=answer.status)
    if change == "email":
        return _account_page(notice=answer.body.get("detail"))
    waiting = answer.body.get("pending_phone") or (
        None if answer.body.get("phone_verified") else answer.body.get("phone")
    )
    # A notice is text, not markup: no-break spaces keep the number on one line.
    unbroken = phone_number(waiting).replace(" ", "\N{NO-BREAK SPACE}")
    notice = gettext("%(phone)s counts once you verify it with a code.", phone=unbroken)
    return _account_page(notice=notice if waiting else None)


@account_pages.post("/account/delete")
@page_form
@signed_in_form
def delete_account():
    answer = api("auth", "DELETE", "/me", {"password": request.form.get("password", "")})
    if not answer.ok:
        # Whatever the API says (a wrong password, mostly) belongs next to this field.
        messages = [m for found in answer.errors().values() for m in found]
        return _account_page(errors={"delete_password": messages}, status=answer.status)
    clear_session()
    return render_template("ui/deleted.html")
