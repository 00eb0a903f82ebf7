"""Accounts over HTTP: thin handlers over the accounts' domain modules (registration,
sessions, recovery, phone, profile, links)."""

from __future__ import annotations

import hashlib

from flask import Blueprint as PageBlueprint
from flask import current_app, jsonify, render_template, request
from flask_babel import gettext

from services.common.app import accepts, public
from services.common.blueprint import Blueprint
from services.common.errors import Problem
from services.common.i18n import in_language, request_locale
from services.common.passwords import password_rules
from services.common.throttle import requesting_client
from services.common.tokens import current_principal, token_required

from ..models import db
from . import links, phone, profile, recovery, registration, sessions
from .errors import InvalidCredentials, InvalidLink, LinkUsed, NoSuchAccount, WeakPassword
from .models import User
from .schemas import (
    AcceptedSchema,
    ChangeEmailSchema,
    ChangeNameSchema,
    ChangePasswordSchema,
    ChangePhoneSchema,
    CodeSchema,
    ConfirmEmailSchema,
    EmailOnlySchema,
    LoginSchema,
    NewPasswordSchema,
    PasswordSchema,
    ProfileSchema,
    RefreshSchema,
    RegisterSchema,
    TokenPairSchema,
)
from .sessions import TokenPair
from .settings import Settings
from .throttle import (
    LoginThrottle,
    address_change_wait,
    mail_request_wait,
    name_change_wait,
    registration_wait,
)
from .users import account_id

accounts_blp = Blueprint("accounts", __name__, description="Accounts, sign-in and verification")
# Pages a person opens from an email: a GET only shows, a button POSTs.
pages_blp = PageBlueprint("account_pages", __name__)
pages_blp.add_app_template_global(password_rules)


def settings() -> Settings:
    return Settings.from_config(current_app.config)


def throttle() -> LoginThrottle:
    return LoginThrottle()


def refuse_while_waiting(wait: int | None, detail: str) -> None:
    """A 429 saying `detail` when a throttle asked to wait `wait` seconds."""
    if wait is not None:
        raise Problem(detail, slug="rate-limited", headers={"Retry-After": str(wait)})


def refuse_mail_request_flood() -> None:
    """429 for a client that asked for too many reset or confirmation links: the same
    for every address, so it tells nothing of who has an account."""
    refuse_while_waiting(
        mail_request_wait(requesting_client()),
        gettext("Too many requests from your address. Try again in a little while."),
    )


def accepted(detail: str) -> tuple[dict, int]:
    return {"detail": detail}, 202


def token_pair(pair: TokenPair) -> dict:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
    }


def current_user() -> User:
    principal = current_principal()
    user = db.session.get(User, account_id(principal.user_id))
    if user is None or user.deleted_at is not None:
        raise NoSuchAccount(gettext("This account no longer exists."))
    return user


@accounts_blp.route("/register", methods=["POST"])
@accounts_blp.arguments(RegisterSchema)
@accounts_blp.response(202, AcceptedSchema)
@public("anyone may open an account")
def register(data):
    """Open an account; a confirmation link goes to the address."""
    refuse_while_waiting(
        registration_wait(requesting_client()),
        gettext("Too many accounts were opened from here. Try again later."),
    )
    registration.register(
        db.session,
        settings(),
        name=data["name"],
        email=data["email"],
        password=data["password"],
        phone=data["phone"],
        locale=data.get("locale") or request_locale(),
    )
    return accepted(gettext("Check your mailbox: we sent a link to confirm the address."))


@accounts_blp.route("/email/confirm", methods=["POST"])
@accounts_blp.arguments(ConfirmEmailSchema)
@accounts_blp.response(200, ProfileSchema)
@public("the link in the email and the account's password are the credentials")
def confirm_email(data):
    """Confirm an address with the token from the emailed link and the account's password.

    A link that no longer works is a 400 `invalid-link`; one whose address is confirmed
    already says so, with `"used": true` (no password needed to learn it: sign in)."""
    return profile_of(confirming(data["token"], data["password"]))


def confirming(token: str, password: str) -> User:
    """Confirm the address a link names. A wrong password counts as a failed sign-in
    does, per link and per client: whoever holds a link to an address typed wrong must
    not be able to guess the account's password through it."""
    client = requesting_client()
    link = "confirm-link:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    refuse_while_waiting(
        throttle().retry_after(link, client),
        gettext("Too many wrong passwords. Try again later."),
    )
    try:
        return registration.confirm_email(db.session, settings(), token, password)
    except InvalidCredentials:
        throttle().failed(link, client)
        raise


@accounts_blp.route("/email/resend", methods=["POST"])
@accounts_blp.arguments(EmailOnlySchema)
@accounts_blp.response(202, AcceptedSchema)
@public("answers the same for every address")
def resend_confirmation(data):
    """Send the confirmation link again (at most once a minute). 30 requests an hour from
    one client address, then 429 `rate-limited`, whatever the addresses."""
    refuse_mail_request_flood()
    recovery.resend_confirmation(db.session, data["email"])
    return accepted(gettext("If the address waits for confirmation, a new link is on its way."))


@accounts_blp.route("/login", methods=["POST"])
@accounts_blp.arguments(LoginSchema)
@accounts_blp.response(200, TokenPairSchema)
@public("signing in is how one gets a token")
def login(data):
    """Sign in: a 15-minute access token and a refresh token."""
    client = requesting_client()
    refuse_while_waiting(
        throttle().retry_after(data["email"], client),
        gettext("Too many failed sign-ins. Try again later."),
    )
    try:
        return token_pair(
            sessions.login(db.session, settings(), email=data["email"], password=data["password"])
        )
    except InvalidCredentials:
        throttle().failed(data["email"], client)
        raise


@accounts_blp.route("/token/refresh", methods=["POST"])
@accounts_blp.arguments(RefreshSchema)
@accounts_blp.response(200, TokenPairSchema)
@public("the refresh token is the credential")
def refresh(data):
    """Exchange a refresh token for a new pair; each refresh token works once."""
    return token_pair(sessions.refresh(db.session, settings(), data["refresh_token"]))


@accounts_blp.route("/logout", methods=["POST"])
@accounts_blp.arguments(RefreshSchema)
@accounts_blp.response(204)
@public("the refresh token is the credential")
def logout(data):
    """End the session the refresh token belongs to: its refresh tokens stop working, and
    its access tokens (those whose `sid` names it) within seconds at every service. The
    person's other sessions go on."""
    sessions.logout(db.session, settings(), data["refresh_token"])


@accounts_blp.route("/me")
@accounts_blp.response(200, ProfileSchema)
@token_required
def me():
    """The signed-in person's account."""
    return profile_of(current_user())


def profile_of(user: User) -> dict:
    """The account as ProfileSchema shows it."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "email_verified": user.email_verified_at is not None,
        "phone": user.phone,
        "phone_verified": user.phone_verified_at is not None,
        "pending_email": user.pending_email,
        "pending_phone": user.pending_phone,
        "locale": user.locale,
        "created_at": user.created_at,
    }


@accounts_blp.route("/me", methods=["PATCH"])
@accounts_blp.arguments(ChangeNameSchema)
@accounts_blp.response(200, ProfileSchema)
@token_required
def change_name(data):
    """Change the name one signs with: access tokens issued from now on carry it (refresh
    to sign with it at once); signatures given before keep theirs."""
    user = current_user()
    if data["name"] != user.name:
        refuse_while_waiting(
            name_change_wait(user.id),
            gettext("The name was changed too often. Try again tomorrow."),
        )
    profile.change_name(db.session, user, data["name"])
    return profile_of(user)


@accounts_blp.route("/me/email", methods=["POST"])
@accounts_blp.arguments(ChangeEmailSchema)
@accounts_blp.response(202, AcceptedSchema)
@token_required
def change_email(data):
    """Change the address: it counts once confirmed from the new mailbox. The address in
    use already is refused (422)."""
    user = current_user()
    refuse_while_waiting(
        address_change_wait(user.id),
        gettext("The address was changed too often. Try again later."),
    )
    profile.change_email(db.session, settings(), user, data["email"], data["password"])
    return accepted(gettext("Check the new mailbox: the change counts once you confirm it."))


@accounts_blp.route("/me/phone", methods=["POST"])
@accounts_blp.arguments(ChangePhoneSchema)
@accounts_blp.response(200, ProfileSchema)
@token_required
def change_phone(data):
    """Change the number; verify it with a code before it counts. The verified number
    itself is refused (422)."""
    user = current_user()
    profile.change_phone(db.session, user, data["phone"], data["password"])
    return profile_of(user)


@accounts_blp.route("/me/export")
@accounts_blp.doc(
    responses={
        "200": {
            "description": "A JSON attachment: the account, sessions, codes and messages",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }
)
@token_required
def export_my_data():
    """Everything auth holds about you, as JSON."""
    response = jsonify(profile.export_data(db.session, current_user()))
    response.headers["Content-Disposition"] = 'attachment; filename="viche-account.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@accounts_blp.route("/me", methods=["DELETE"])
@accounts_blp.arguments(PasswordSchema)
@accounts_blp.response(204)
@token_required
def delete_my_account(data):
    """Delete the account: name, address, number and password are erased."""
    profile.delete_account(db.session, current_user(), data["password"])


@accounts_blp.route("/phone/code", methods=["POST"])
@accounts_blp.response(202, AcceptedSchema)
@token_required
def send_phone_code():
    """Text a 6-digit code to the account's phone."""
    phone.start_phone_verification(db.session, settings(), current_user(), requesting_client())
    return accepted(gettext("We sent a code by SMS. It is valid for 10 minutes."))


@accounts_blp.route("/phone/verify", methods=["POST"])
@accounts_blp.arguments(CodeSchema)
@accounts_blp.response(200, ProfileSchema)
@token_required
def verify_phone(data):
    """Verify the phone with the code; refresh the token to carry the new claim."""
    user = current_user()
    phone.verify_phone(db.session, settings(), user, data["code"])
    return profile_of(user)


@accounts_blp.route("/password/forgot", methods=["POST"])
@accounts_blp.arguments(EmailOnlySchema)
@accounts_blp.response(202, AcceptedSchema)
@public("answers the same for every address")
def forgot_password(data):
    """Email a link to set a new password, if the address has an account (at most once a
    minute). 30 requests an hour from one client address, then 429 `rate-limited`,
    whatever the addresses."""
    refuse_mail_request_flood()
    recovery.request_password_reset(db.session, data["email"])
    return accepted(
        gettext("If the address has an account, a link to set a new password is on its way.")
    )


@accounts_blp.route("/password/reset", methods=["POST"])
@accounts_blp.arguments(NewPasswordSchema)
@accounts_blp.response(204)
@public("the link in the email is the credential")
def reset_password(data):
    """Set a new password with the emailed link's token; all sessions end.

    A link that no longer works is a 400 `invalid-link`; with `"used": true` when the
    password was changed after the link was sent (with it, mostly: sign in)."""
    recovery.reset_password(db.session, settings(), data["token"], data["password"])


@accounts_blp.route("/password/change", methods=["POST"])
@accounts_blp.arguments(ChangePasswordSchema)
@accounts_blp.response(200, TokenPairSchema)
@token_required
def change_password(data):
    """Change the password, giving the current one; every other session ends.

    The caller's session goes on with the new token pair in the answer (its refresh token
    and access tokens, like every other session's, no longer work), and the account's
    address is told of the change. A wrong current password is a 401
    `invalid-credentials` and counts as a failed sign-in of the account from this client
    (then 429 `rate-limited`, as sign-in is): an access token alone, a stolen one say,
    neither changes the password nor guesses it. A new password the rules refuse is a
    422 with the reason under `new_password`."""
    user = current_user()
    client = requesting_client()
    refuse_while_waiting(
        throttle().retry_after(user.email, client),
        gettext("Too many wrong passwords. Try again later."),
    )
    try:
        pair = profile.change_password(
            db.session,
            settings(),
            user,
            current=data["current_password"],
            new=data["new_password"],
        )
    except InvalidCredentials:
        throttle().failed(user.email, client)
        raise
    return token_pair(pair)


# Pages opened from emails. A mail scanner that fetches the link changes nothing.


def _link_page(purpose: str, template: str):
    """The page an emailed link opens, in the email's language: its form; or, for a link
    that will not work (used already, expired), why, at once, without a form to fill in
    first. Only reads: a mail scanner that fetches the link changes nothing."""
    token = request.args.get("token", "")
    locale = links.link_locale(db.session, settings(), token, purpose)
    with in_language(locale) as language:
        spent = links.link_problem(db.session, settings(), token, purpose)
        if spent is not None:
            return spent_link(spent, purpose, language)
        return render_template(template, locale=language, token=token)


def spent_link(problem: InvalidLink, purpose: str, language: str | None = None):
    """The page for a link that no longer works: why, in plain words; and for one used
    already (the work is done), the way to sign in, and for a reset link, to a new one."""
    used = isinstance(problem, LinkUsed)
    page = render_template(
        "accounts/done.html",
        locale=language or request_locale(),
        ok=False,
        message=problem.detail,
        sign_in=used,
        new_link=used and purpose == "reset-password",
    )
    return page, problem.status


@pages_blp.get("/email/confirm")
def confirm_email_page():
    return _link_page("confirm-email", "accounts/confirm_email.html")


@pages_blp.post("/email/confirm/form")
@accepts("application/x-www-form-urlencoded", "multipart/form-data")
@public("the link in the email is the credential")
def confirm_email_form():
    token = request.form.get("token", "")
    try:
        confirming(token, request.form.get("password", "")[:1000])
    except InvalidLink as problem:
        return spent_link(problem, "confirm-email")
    except Problem as problem:  # the password is wrong, or was too often
        page = render_template("accounts/confirm_email.html", token=token, error=problem.detail)
        return page, problem.status, problem.headers
    return render_template(
        "accounts/done.html",
        ok=True,
        message=gettext("Your email address is confirmed."),
        sign_in=True,
    )


@pages_blp.get("/password/reset")
def reset_password_page():
    return _link_page("reset-password", "accounts/reset_password.html")


@pages_blp.post("/password/reset/form")
@accepts("application/x-www-form-urlencoded", "multipart/form-data")
@public("the link in the email is the credential")
def reset_password_form():
    token = request.form.get("token", "")
    try:
        recovery.reset_password(db.session, settings(), token, request.form.get("password", ""))
    except InvalidLink as problem:
        return spent_link(problem, "reset-password")
    except WeakPassword as problem:
        message = " ".join(problem.errors.get("password", [])) or problem.detail
        return render_template("accounts/reset_password.html", token=token, error=message), 422
    return render_template(
        "accounts/done.html",
        ok=True,
        message=gettext("Your new password is set. Sign in with it."),
        sign_in=True,
    )
