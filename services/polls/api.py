"""Polls over HTTP: thin handlers over lifecycle, voting and tallies."""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from services.common.app import public
from services.common.blueprint import Blueprint
from services.common.caching import cached_public_read
from services.common.config import SUPPORTED_LOCALES
from services.common.councils import ensure_council
from services.common.csvfiles import CSV_DOC, csv_download
from services.common.fields import (
    ONE_LINE_NOT_BLANK,
    CheckOnlyQuery,
    EmailAddress,
    Length,
    Moment,
    OneLine,
    id_field,
)
from services.common.i18n import request_locale
from services.common.policies import policy_for, update_policy
from services.common.throttle import requesting_client
from services.common.tokens import current_principal, token_required

from . import lifecycle, tallies, voting
from .errors import NotAllowed, ResultsHidden
from .models import METHODS, RESULTS_VISIBILITY, CouncilPolicy, Poll, db
from .widget import widget_height

polls_blp = Blueprint("polls", __name__, description="Polls, votes and results")

QUESTION = Length(min=5, max=300)


def options_field(**kwargs) -> fields.List:
    """A poll's answers, as lifecycle checks them: each with text besides spaces, no two
    the same (the document cannot say "ignoring case and surrounding spaces": it says
    so in words)."""
    return fields.List(
        OneLine(validate=Length(min=1, max=200), metadata={"pattern": ONE_LINE_NOT_BLANK}),
        validate=Length(min=2, max=30, entries="answers"),
        metadata={
            "uniqueItems": True,
            "description": "each answer with text besides spaces, no two the same"
            " (ignoring case and surrounding spaces)",
        },
        **kwargs,
    )


CHOICES = fields.List(
    fields.Integer(), required=True, validate=Length(min=1, max=30, entries="answers")
)


# Rules between fields, which a schema cannot state: said in words.
MAX_CHOICES_DOC = {"description": "answers a voter may choose: at most the poll's answers"}
CLOSES_AT_DOC = {
    "description": "a time with its offset, in the years 2000 to 2199 (UTC), after opens_at"
    " and, when a poll opens, not passed"
}


class NewPollSchema(Schema):
    council = fields.String(required=True, validate=Length(min=1, max=64))
    question = OneLine(required=True, validate=QUESTION)
    description = fields.String(load_default="", validate=Length(max=5000))
    language = fields.String(load_default="uk", validate=validate.OneOf(SUPPORTED_LOCALES))
    options = options_field(required=True)
    max_choices = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=30), metadata=MAX_CHOICES_DOC
    )
    method = fields.String(load_default="email", validate=validate.OneOf(METHODS))
    results_visibility = fields.String(
        load_default="always", validate=validate.OneOf(RESULTS_VISIBILITY)
    )
    allow_change = fields.Boolean(load_default=False)
    opens_at = Moment(load_default=None, allow_none=True)
    closes_at = Moment(load_default=None, allow_none=True, metadata=CLOSES_AT_DOC)


class EditPollSchema(Schema):
    question = OneLine(validate=QUESTION)
    description = fields.String(validate=Length(max=5000))
    language = fields.String(validate=validate.OneOf(SUPPORTED_LOCALES))
    options = options_field()
    max_choices = fields.Integer(validate=validate.Range(min=1, max=30), metadata=MAX_CHOICES_DOC)
    method = fields.String(validate=validate.OneOf(METHODS))
    results_visibility = fields.String(validate=validate.OneOf(RESULTS_VISIBILITY))
    allow_change = fields.Boolean()
    opens_at = Moment(allow_none=True)
    closes_at = Moment(allow_none=True, metadata=CLOSES_AT_DOC)


class OptionSchema(Schema):
    id = fields.Integer()
    label = fields.String()


class PollSchema(Schema):
    id = fields.Integer()
    council = fields.String()
    question = fields.String()
    description = fields.String()
    language = fields.String()
    options = fields.List(fields.Nested(OptionSchema))
    max_choices = fields.Integer()
    method = fields.String()
    results_visibility = fields.String()
    allow_change = fields.Boolean()
    state = fields.String()
    opens_at = fields.DateTime(allow_none=True)
    closes_at = fields.DateTime(allow_none=True)


class PollListSchema(Schema):
    polls = fields.List(fields.Nested(PollSchema))
    next_after = fields.Integer(allow_none=True, metadata={"description": "keyset cursor"})


class ListQuerySchema(Schema):
    council = fields.String(validate=Length(max=64))
    state = fields.String(validate=validate.OneOf(["draft", *lifecycle.PUBLISHED]))
    after = id_field(metadata={"description": "the next_after of the previous page"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class AccountVoteSchema(Schema):
    choices = CHOICES


class EmailVoteSchema(Schema):
    email = EmailAddress(required=True)
    choices = CHOICES
    locale = fields.String(validate=validate.OneOf(SUPPORTED_LOCALES))


class ReceiptSchema(Schema):
    poll_id = fields.Integer(required=True)
    receipt = fields.String(required=True)


class PendingVoteSchema(Schema):
    pending_id = fields.String(
        required=True, metadata={"description": "secret: lets the voter cancel"}
    )
    expires_at = fields.DateTime(required=True)


class ResultsQuerySchema(Schema):
    receipt = fields.String(
        validate=Length(max=32),
        metadata={
            "description": "The reader's vote receipt: shows results kept for voters, "
            "the reader's vote among them before the next fold counts it for everyone."
        },
    )


class ResultOptionSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    votes = fields.Integer()
    percent = fields.Float()


class ResultsSchema(Schema):
    poll_id = fields.Integer()
    question = fields.String()
    state = fields.String()
    voters = fields.Integer()
    verification = fields.String(metadata={"description": "email, account or account+phone"})
    final = fields.Boolean(metadata={"description": "recounted from the ballots at close"})
    options = fields.List(fields.Nested(ResultOptionSchema))


class EmbedSchema(Schema):
    iframe = fields.String()
    script = fields.String()
    widget_url = fields.String()


WEB_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]{1,253})(?::([0-9]{1,5}))?")
# The same for the document, with the port from 1 to 65535 and the slash people copy.
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
WEB_ORIGIN_PATTERN = rf"^https?://[A-Za-z0-9.-]{{1,253}}(?::{_PORT})?/?$"


class WebOrigin(fields.String):
    """An origin that may frame the widget: it goes into a CSP header as it is. The slash
    an address bar shows after it (https://rada.example.ua/) is dropped: people copy it."""

    def __init__(self, **kwargs) -> None:
        kwargs["metadata"] = {"pattern": WEB_ORIGIN_PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).removesuffix("/")
        found = WEB_ORIGIN.fullmatch(text)
        if found is None or not 0 < int(found[2] or 443) < 65536:
            raise ValidationError(
                str(_l("An origin is a scheme, a host and a port, like https://rada.example.ua"))
            )
        return text


class PolicySchema(Schema):
    widget_origins = fields.List(
        WebOrigin(metadata={"example": "https://rada.example.ua"}),
        validate=Length(max=20),
    )
    block_disposable_email = fields.Boolean()


def present(poll: Poll) -> dict:
    data = {key: getattr(poll, key) for key in PollSchema._declared_fields if key != "options"}
    data["state"] = lifecycle.effective_state(poll)
    data["options"] = [{"id": o.id, "label": o.label} for o in poll.options]
    return data


def results_visible_to_caller(poll: Poll, state: str, receipt: str | None) -> bool:
    if poll.results_visibility == "always" or state in ("closed", "archived"):
        return True
    viewer = current_principal(required=False)
    if lifecycle.can_manage(viewer, poll.council):
        return True
    if poll.results_visibility == "after_vote":
        return voting.voted(db.session, poll, viewer, receipt)
    return False


def visible_results(poll_id: int, receipt: str | None) -> dict:
    """The poll's results, if the caller may see them; `receipt` is the caller's vote's
    (it shows results kept for voters, and the vote among them at once)."""
    poll = lifecycle.get_poll(db.session, poll_id, current_principal(required=False))
    state = lifecycle.effective_state(poll)
    if not results_visible_to_caller(poll, state, receipt):
        raise ResultsHidden(
            gettext("The results are shown when the poll closes.")
            if poll.results_visibility == "after_close"
            else gettext("The results are shown to those who have voted.")
        )
    return tallies.results(
        db.session,
        poll,
        state,
        final=poll.reconciled_at is not None,
        own_receipt=receipt,
    )


@polls_blp.route("/polls", methods=["POST"])
@polls_blp.arguments(NewPollSchema)
@polls_blp.response(201, PollSchema)
@token_required
def create_poll(data):
    """Create a draft poll (the council's moderators and admins)."""
    return present(lifecycle.create_poll(db.session, current_principal(), data))


@polls_blp.route("/polls")
@cached_public_read(max_age=5, stale_while_revalidate=30)
@polls_blp.arguments(ListQuerySchema, location="query")
@polls_blp.response(200, PollListSchema)
def list_polls(query):
    """Published polls, newest first; drafts only for the council's moderators."""
    statement = select(Poll)
    if query.get("state") == "draft":
        if not query.get("council") or not lifecycle.can_manage(
            current_principal(required=False), query["council"]
        ):
            raise NotAllowed()
        statement = statement.where(Poll.state == "draft")
    elif query.get("state"):
        statement = statement.where(Poll.state == query["state"])
    else:
        statement = statement.where(Poll.state.in_(lifecycle.PUBLISHED))
    if query.get("council"):
        statement = statement.where(Poll.council == query["council"])
    if query.get("after"):
        statement = statement.where(Poll.id < query["after"])
    rows = db.session.scalars(statement.order_by(Poll.id.desc()).limit(query["limit"] + 1)).all()
    page = rows[: query["limit"]]
    return {
        "polls": [present(p) for p in page],
        "next_after": page[-1].id if len(rows) > query["limit"] else None,
    }


@polls_blp.route("/polls/<int:poll_id>")
@cached_public_read(max_age=5, stale_while_revalidate=30, memo_seconds=1.0)
@polls_blp.response(200, PollSchema)
def get_poll(poll_id: int):
    """A poll with its options; a draft only for the council's moderators."""
    return present(lifecycle.get_poll(db.session, poll_id, current_principal(required=False)))


@polls_blp.route("/polls/<int:poll_id>", methods=["PATCH"])
@polls_blp.arguments(EditPollSchema)
@polls_blp.response(200, PollSchema)
@token_required
def edit_poll(data, poll_id: int):
    """Change a draft."""
    return present(lifecycle.edit_draft(db.session, current_principal(), poll_id, data))


@polls_blp.route("/polls/<int:poll_id>", methods=["DELETE"])
@polls_blp.response(204)
@token_required
def delete_poll(poll_id: int):
    """Delete a draft."""
    lifecycle.delete_draft(db.session, current_principal(), poll_id)


@polls_blp.route("/polls/<int:poll_id>/publish", methods=["POST"])
@polls_blp.response(200, PollSchema)
@token_required
def publish(poll_id: int):
    """Open the poll now, or schedule it for its opening time."""
    return present(lifecycle.publish(db.session, current_principal(), poll_id))


@polls_blp.route("/polls/<int:poll_id>/close", methods=["POST"])
@polls_blp.response(200, PollSchema)
@token_required
def close(poll_id: int):
    """Close the poll now; its results become final moments later."""
    return present(lifecycle.close(db.session, current_principal(), poll_id))


@polls_blp.route("/polls/<int:poll_id>/archive", methods=["POST"])
@polls_blp.response(200, PollSchema)
@token_required
def archive(poll_id: int):
    """Archive a closed poll."""
    return present(lifecycle.archive(db.session, current_principal(), poll_id))


@polls_blp.route("/polls/<int:poll_id>/votes", methods=["POST"])
@polls_blp.arguments(AccountVoteSchema)
@polls_blp.response(201, ReceiptSchema)
@token_required
def vote(data, poll_id: int):
    """Vote as a signed-in resident (polls whose method is account or account+phone)."""
    receipt = voting.vote_with_account(db.session, current_principal(), poll_id, data["choices"])
    return {"poll_id": poll_id, "receipt": receipt}


@polls_blp.route("/polls/<int:poll_id>/email-votes", methods=["POST"])
@polls_blp.arguments(EmailVoteSchema)
@polls_blp.response(202, PendingVoteSchema)
@public("anyone may vote by email; the vote counts only once the address confirms it")
def vote_by_email(data, poll_id: int):
    """Ask to vote by email: the vote waits until the emailed link confirms it."""
    pending = voting.request_email_vote(
        db.session,
        poll_id,
        email=data["email"],
        choices=data["choices"],
        locale=data.get("locale") or request_locale(),
        client=requesting_client(),
    )
    return {"pending_id": pending.id, "expires_at": pending.expires_at}


@polls_blp.route("/pending-votes/<pending_id>/cancel", methods=["POST"])
@polls_blp.response(204)
@public("the pending vote's secret id is the credential")
def cancel_pending_vote(pending_id: str):
    """Cancel a vote that waits for its confirmation."""
    voting.cancel_pending(db.session, pending_id[:64])


@polls_blp.route("/polls/<int:poll_id>/results")
@cached_public_read(max_age=5, stale_while_revalidate=30, memo_seconds=1.0)
@polls_blp.arguments(ResultsQuerySchema, location="query")
@polls_blp.response(200, ResultsSchema)
def results(query, poll_id: int):
    """Votes per option, voters and verification; when the poll shows them to the caller."""
    return visible_results(poll_id, query.get("receipt"))


@polls_blp.route("/polls/<int:poll_id>/results.csv")
@polls_blp.doc(**CSV_DOC)
@cached_public_read(max_age=5, stale_while_revalidate=30)
@polls_blp.arguments(ResultsQuerySchema, location="query")
def results_csv(query, poll_id: int):
    """The results as CSV (answer, votes, percent; then the voters), headed in the
    reader's language."""
    data = visible_results(poll_id, query.get("receipt"))
    rows = [
        [gettext("Answer"), gettext("Votes"), gettext("Percent")],
        *([o["label"], o["votes"], o["percent"]] for o in data["options"]),
        [gettext("Voters"), data["voters"], ""],
    ]
    return csv_download(rows, f"poll-{poll_id}-results.csv")


@polls_blp.route("/polls/<int:poll_id>/embed")
@polls_blp.response(200, EmbedSchema)
@token_required
def embed(poll_id: int):
    """The snippet a council pastes into its website (the poll's moderators)."""
    poll = lifecycle.managed_poll(db.session, current_principal(), poll_id)
    base = current_app.config["PUBLIC_URL"]
    url = f"{base}/api/polls/widget/{poll.id}"
    title = escape(poll.question)  # for an HTML attribute
    height = widget_height(poll)
    return {
        "widget_url": url,
        "iframe": (
            f'<iframe src="{url}" title="{title}" width="100%" height="{height}" '
            'style="border:0;max-width:32rem" loading="lazy"></iframe>'
        ),
        "script": (
            f'<script src="{base}/api/polls/widget.js" data-poll="{poll.id}" '
            f'data-title="{title}" data-height="{height}" async></script>'
        ),
    }


@polls_blp.route("/councils/<council:council>/policy")
@polls_blp.response(200, PolicySchema)
def get_policy(council: str):
    """The council's poll settings."""
    ensure_council(council, in_path=True)
    return policy_for(db.session, CouncilPolicy, council)


@polls_blp.route("/councils/<council:council>/policy", methods=["PUT"])
@polls_blp.arguments(PolicySchema)
@polls_blp.arguments(CheckOnlyQuery, location="query")
@polls_blp.response(200, PolicySchema)
@token_required
def put_policy(data, query, council: str):
    """Change the council's poll settings (its admins)."""
    ensure_council(council, in_path=True)
    return update_policy(
        db.session,
        CouncilPolicy,
        current_principal(),
        council,
        data,
        NotAllowed(),
        check_only=query["check_only"],
    )
