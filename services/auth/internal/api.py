"""The service API (X-Viche-Internal-Token) and the page a verification link opens."""

from __future__ import annotations

import functools

from flask import Blueprint as PageBlueprint
from flask import current_app, g, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.app import accepts, public
from services.common.blueprint import Blueprint
from services.common.client import service_required
from services.common.config import SUPPORTED_LOCALES
from services.common.errors import Problem, problem_body
from services.common.fields import EmailAddress, Length, SmallObject, id_field
from services.common.i18n import page_language, render_in_language
from services.common.marks import mark, put_in

from .. import keys
from ..accounts.errors import InvalidLink
from ..accounts.settings import Settings
from ..models import db
from . import domain

internal_blp = Blueprint(
    "internal", __name__, url_prefix="/internal", description="For Viche's own services only"
)
verify_pages_blp = PageBlueprint("verify_pages", __name__)


def settings() -> Settings:
    return Settings.from_config(current_app.config)


class VerificationRequestSchema(Schema):
    email = EmailAddress(required=True)
    purpose = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9:._-]{1,100}$"))
    subject = fields.String(required=True, validate=Length(min=1, max=100))
    locale = fields.String(load_default="uk", validate=validate.OneOf(SUPPORTED_LOCALES))
    return_url = fields.String(load_default=None, validate=Length(max=500))
    context = SmallObject(
        max_entries=10,
        keys=fields.String(),
        values=fields.String(validate=Length(max=500)),
        load_default=dict,
    )


class VerificationSchema(Schema):
    id = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class VerificationRequestsSchema(Schema):
    requests = fields.List(
        fields.Nested(VerificationRequestSchema),
        required=True,
        validate=Length(min=1, max=domain.VERIFICATIONS_AT_ONCE),
    )


class VerificationOutcomeSchema(Schema):
    status = fields.Integer(
        required=True,
        metadata={
            "description": "202: queued (`id`, `expires_at`); otherwise the status the"
            " one-at-a-time request would have been refused with (429: too many for the"
            " address, with `retry_after` seconds)"
        },
    )
    id = fields.String()
    expires_at = fields.DateTime()
    type = fields.String()
    title = fields.String()
    detail = fields.String()
    retry_after = fields.Integer()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class VerificationOutcomesSchema(Schema):
    results = fields.List(fields.Nested(VerificationOutcomeSchema), required=True)


class SettledSchema(Schema):
    subjects = fields.List(
        fields.String(validate=Length(min=1, max=100)),
        validate=Length(min=1, max=domain.SETTLED_AT_ONCE),
        metadata={"description": "subjects of the caller's verifications whose proof it acted on"},
    )
    ids = fields.List(
        fields.String(validate=Length(min=1, max=64)),
        validate=Length(min=1, max=domain.SETTLED_AT_ONCE),
        metadata={
            "description": "the same, by the verifications' ids: what callers of the "
            "release before send, until they are replaced",
            "deprecated": True,
        },
    )

    @validates_schema
    def _one_or_the_other(self, data, **kwargs):
        if ("subjects" in data) == ("ids" in data):
            raise ValidationError(gettext("Send either subjects or ids."), "subjects")


class WithdrawnSchema(Schema):
    subject = fields.String(
        required=True,
        validate=Length(min=1, max=100),
        metadata={"description": "the subject of the caller's verification to withdraw"},
    )


class SettledCountSchema(Schema):
    settled = fields.Integer(required=True, metadata={"description": "how many were pending"})


class NotificationSchema(Schema):
    user_ids = fields.List(id_field(), required=True, validate=Length(min=1, max=10000))
    template = fields.String(required=True)
    context = SmallObject(
        max_entries=20,
        keys=fields.String(),
        values=fields.String(validate=Length(max=2000)),
        load_default=dict,
    )
    key = fields.String(
        validate=Length(min=1, max=128),
        metadata={
            "description": "the caller's name for this batch: handed over again under the"
            " same key, it is not sent again (safe retries)"
        },
    )


class NotifiedSchema(Schema):
    queued = fields.Integer(required=True)


class WithdrawalsQuery(Schema):
    since = fields.String(
        validate=validate.Regexp(keys.CURSOR_PATTERN),
        metadata={"description": "the `cursor` of the last answer: only what was written since"},
    )


class WithdrawalSchema(Schema):
    user_id = fields.String(required=True)
    at = fields.Float(required=True, metadata={"description": "seconds since the epoch"})
    until = fields.Float(
        required=True, metadata={"description": "no token it takes back lives past this"}
    )


class SignedOutSchema(Schema):
    sid = fields.String(required=True)
    until = fields.Float(
        required=True, metadata={"description": "no token of the session lives past this"}
    )


class WithdrawalsSchema(Schema):
    cursor = fields.String(
        required=True, metadata={"description": "`since` for the next read: what comes after"}
    )
    full = fields.Boolean(
        required=True,
        metadata={
            "description": "the whole list (asked without a cursor, or with one this database"
            " did not give): it replaces what the reader holds rather than adding to it"
        },
    )
    withdrawals = fields.List(fields.Nested(WithdrawalSchema), required=True)
    signed_out = fields.List(
        fields.Nested(SignedOutSchema),
        required=True,
        metadata={"description": "sessions signed out: their tokens (claim `sid`) are refused"},
    )
    sessions = fields.List(
        fields.String(),
        metadata={
            "description": "in a whole list only, the sids of `signed_out`: as services from"
            " before cursors read them"
        },
    )


@internal_blp.route("/access-withdrawals")
@internal_blp.arguments(WithdrawalsQuery, location="query")
@internal_blp.response(200, WithdrawalsSchema)
@service_required
def access_withdrawals(query):
    """Access tokens taken back: a user's tokens issued before `at` are refused, and
    every token of a session in `signed_out`. Given the `cursor` of the last answer as
    `since`, only what was written after it."""
    return keys.access_withdrawals(db.session, query.get("since"))


@internal_blp.route("/email-verifications", methods=["POST"])
@internal_blp.arguments(VerificationRequestSchema)
@internal_blp.response(202, VerificationSchema)
@service_required
def request_email_verification(data):
    """Email a confirmation link for the caller's purpose; the proof goes to return_url."""
    verification = domain.request_verification(
        db.session, settings(), caller=g.calling_service, **data
    )
    return {"id": verification.id, "expires_at": verification.expires_at}


@internal_blp.route("/email-verifications/batch", methods=["POST"])
@internal_blp.arguments(VerificationRequestsSchema)
@internal_blp.response(200, VerificationOutcomesSchema)
@service_required
def request_email_verifications(data):
    """Several requests at once (voters who asked at the same moment): each answered on
    its own, in order, as POST /internal/email-verifications would answer it."""
    outcomes = domain.request_verifications(
        db.session, settings(), caller=g.calling_service, requests=data["requests"]
    )
    return {
        "results": [
            _outcome(outcome, asked["locale"])
            for outcome, asked in zip(outcomes, data["requests"], strict=True)
        ]
    }


def _outcome(outcome: domain.QueuedVerification | Problem, locale: str) -> dict:
    """One request's answer: queued, or its problem as the one-at-a-time request's body
    would say it, in the request's language."""
    if isinstance(outcome, domain.QueuedVerification):
        return {"status": 202, "id": outcome.id, "expires_at": outcome.expires_at}
    with force_locale(locale):
        refused = problem_body(
            outcome.slug,
            outcome.status,
            gettext(outcome.title),
            outcome.detail,
            errors=outcome.errors,
        )
    if "Retry-After" in outcome.headers:
        refused["retry_after"] = int(outcome.headers["Retry-After"])
    return refused


@internal_blp.route("/email-verifications/settled", methods=["POST"])
@internal_blp.arguments(SettledSchema)
@internal_blp.response(200, SettledCountSchema)
@service_required
def settle_email_verifications(data):
    """The caller acted on these verifications' proofs: their links are used."""
    settled = domain.settled_by_caller(
        db.session,
        caller=g.calling_service,
        subjects=data.get("subjects", ()),
        verification_ids=data.get("ids", ()),
    )
    return {"settled": settled}


@internal_blp.route("/email-verifications/cancel", methods=["POST"])
@internal_blp.arguments(WithdrawnSchema)
@internal_blp.response(204)
@service_required
def cancel_email_verification(data):
    """Withdraw a pending verification, named by its subject."""
    domain.cancel(db.session, caller=g.calling_service, subject=data["subject"])


@internal_blp.route("/notifications", methods=["POST"])
@internal_blp.arguments(NotificationSchema)
@internal_blp.response(202, NotifiedSchema)
@service_required
def notify_users(data):
    """Email users (those with a confirmed address) a message from an allowed template."""
    return {"queued": domain.notify(db.session, settings(), caller=g.calling_service, **data)}


@verify_pages_blp.get("/verify")
def verification_page():
    token = request.args.get("token", "")
    try:
        verification = domain.pending_verification(db.session, settings(), token)
    except domain.SpentLink as spent:
        return _spent_link_page(spent), 400
    except InvalidLink as problem:
        return render_template("accounts/done.html", ok=False, message=problem.detail), 400
    # It carries the link's token, and the proof its button hands on: kept by no cache.
    return _link_page(verification, token), 200, {"Cache-Control": "no-store"}


LINK_PAGE = "accounts/verify_for_service.html"


def _link_page(verification: domain.PendingVerification, token: str) -> str:
    """The link's page, in the email's language (`page_language`). With a proof it is
    alike for everyone voting for one answer in one language but for the proof, and is
    rendered once around its mark (services.common.marks)."""
    context = tuple(sorted(verification.context.items()))
    if verification.proof is None or not all(isinstance(value, str) for _, value in context):
        return render_in_language(
            verification.locale, LINK_PAGE, token=token, verification=verification
        )
    page = _proof_page_around_mark(
        page_language(verification.locale), context, verification.return_path
    )
    return put_in(page, {"proof": verification.proof}, html=True)


@functools.lru_cache(maxsize=1024)
def _proof_page_around_mark(language: str, context: tuple, return_path: str) -> str:
    with force_locale(language):
        return render_template(
            LINK_PAGE,
            locale=language,
            token="",
            verification=domain.PendingVerification(
                language, dict(context), return_path, mark("proof")
            ),
        )


def _spent_link_page(spent: domain.SpentLink) -> str:
    """In the email's language, with the way back to the page the vote (or whatever the
    link confirmed) came from, when that page is on this site."""
    site = settings().public_url + "/"
    back = spent.back if spent.back and spent.back.startswith(site) else None
    return render_in_language(
        spent.locale, "accounts/done.html", ok=False, message=spent.detail, back=back
    )


@verify_pages_blp.post("/verify/form")
@accepts("application/x-www-form-urlencoded", "multipart/form-data")
@public("the link in the email is the credential")
def verification_form():
    token = request.form.get("token", "")
    try:
        confirmed = domain.confirm(db.session, settings(), token)
    except domain.SpentLink as spent:
        return _spent_link_page(spent), 400
    except InvalidLink as problem:
        return render_template("accounts/done.html", ok=False, message=problem.detail), 400
    if not confirmed:  # the caller takes the proof, which the link's page carries
        again = {"token": token, "lang": request.args.get("lang")}
        return redirect(url_for(".verification_page", **again), code=303)
    return render_template("accounts/done.html", ok=True, message=gettext("Confirmed. Thank you!"))
