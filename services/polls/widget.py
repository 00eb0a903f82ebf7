"""The poll widget a council embeds in its website, and the pages around an email vote.

Plain HTML forms, no script and no cookies: the widget works in any iframe, and an
email vote needs nothing from the browser but the form. Only these pages may be framed,
and only by the origins the council lists (Content-Security-Policy frame-ancestors).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
from pathlib import Path

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask_babel import force_locale

from services.common.app import accepts, public
from services.common.config import SUPPORTED_LOCALES
from services.common.errors import Problem
from services.common.fields import EmailAddress, is_id
from services.common.i18n import request_locale
from services.common.marks import mark, put_in
from services.common.policies import kept_policy
from services.common.throttle import requesting_client
from services.common.tokens import InvalidToken, verify_service_token

from . import lifecycle, tallies, voting
from .lifecycle import PublishedPoll
from .models import CouncilPolicy, Poll, db

widget_blp = Blueprint("widget", __name__)
STATIC = Path(__file__).parent / "static"
EMBED_SCRIPT = (STATIC / "widget.js").read_text()
# The one script a widget page runs (inline, allowed by its hash): it tells the loader
# on the council's page how tall the page is.
HEIGHT_SCRIPT = (STATIC / "widget-height.js").read_text()
HEIGHT_SCRIPT_HASH = base64.b64encode(hashlib.sha256(HEIGHT_SCRIPT.encode()).digest()).decode()


def _language(poll: Poll | PublishedPoll | None) -> str:
    asked = request.args.get("lang") or request.form.get("lang")
    if asked in SUPPORTED_LOCALES:
        return asked
    # Without a poll (a proof that names none), the visitor's own language.
    return poll.language if poll is not None else request_locale()


def _frameable_by(poll: Poll | PublishedPoll) -> str:
    origins = kept_policy(db.session, CouncilPolicy, poll.council).widget_origins
    return " ".join(["'self'", *origins])


def _page(
    template: str, poll: Poll | PublishedPoll | None, status: int = 200, **context
) -> Response:
    """Render in the poll's language, framable by the council's sites only."""
    language = _language(poll)
    with force_locale(language):
        body = render_template(
            template, poll=poll, lang=language, height_script=HEIGHT_SCRIPT, **context
        )
    return _framable(body, poll, status)


def _framable(body: str, poll: Poll | PublishedPoll | None, status: int = 200) -> Response:
    response = make_response(body, status)
    ancestors = _frameable_by(poll) if poll is not None else "'none'"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{HEIGHT_SCRIPT_HASH}'; form-action 'self'; "
        f"base-uri 'none'; frame-ancestors {ancestors}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _lines(text: str | None, per_line: int) -> int:
    return math.ceil(len(text or "") / per_line)


def widget_height(poll: Poll) -> int:
    """A first guess at the widget's height in pixels, for a snippet that stands without
    the loader script (the loader then fits its frame to the page)."""
    heading = _lines(poll.question, 36) * 30 + _lines(poll.description, 55) * 24
    options = sum(_lines(option.label, 45) * 24 + 8 for option in poll.options)
    # Legend, the options, the email field, its note and the button; or a sign-in link.
    body = 240 + options if poll.method == "email" else 60
    if poll.results_visibility == "always":  # title, voters, a line and a bar per answer
        body += 70 + options + 28 * len(poll.options)
    return min(32 + heading + body, 2400)


def _results_for(poll: Poll) -> dict | None:
    """Results on the widget, which knows nobody: shown when they are for everyone."""
    state = lifecycle.effective_state(poll)
    if poll.results_visibility != "always" and state not in ("closed", "archived"):
        return None
    return tallies.results(db.session, poll, state, final=poll.reconciled_at is not None)


def _results_after_vote(poll: PublishedPoll, counted: voting.CountedVote) -> dict | None:
    """Results beside "your vote was counted", the vote among them: the poll took the
    vote, so it is open, and they show unless the council keeps them until it closes."""
    if poll.results_visibility == "after_close":
        return None
    if counted.ballot_id is not None:  # a new ballot: added to the folded tallies here
        return tallies.results_with_new_ballot(
            db.session, poll, counted.ballot_id, counted.first_choices
        )
    return tallies.results(db.session, poll, "open", final=False, own_receipt=counted.receipt)


@widget_blp.get("/widget/<int:poll_id>")
def widget(poll_id: int):
    poll = lifecycle.get_poll(db.session, poll_id)
    return _page(
        "polls/widget.html",
        poll,
        state=lifecycle.effective_state(poll),
        results=_results_for(poll),
        errors={},
        form={},
    )


@widget_blp.post("/widget/<int:poll_id>")
@accepts("application/x-www-form-urlencoded", "multipart/form-data")
@public("anyone may vote by email; the vote counts only once the address confirms it")
def widget_vote(poll_id: int):
    poll = lifecycle.get_poll(db.session, poll_id)
    form = {"email": request.form.get("email", ""), "choices": request.form.getlist("choice")}
    errors: dict[str, list[str]] = {}
    try:
        choices = [int(c) for c in form["choices"]]
    except ValueError:
        choices = [-1]
    try:
        email = EmailAddress().deserialize(form["email"][:400])
    except Exception as invalid:  # marshmallow.ValidationError: shown next to the field
        errors["email"] = list(getattr(invalid, "messages", [str(invalid)]))
        try:  # every field's fault at once, not one a submission
            with force_locale(_language(poll)):
                voting.check_choices(poll, choices)
        except Problem as problem:
            errors.update(problem.errors)
    if not errors:
        try:
            with force_locale(_language(poll)):
                pending = voting.request_email_vote(
                    db.session,
                    poll.id,
                    email=email,
                    choices=choices,
                    locale=_language(poll),
                    client=requesting_client(),
                )
            return _page("polls/pending.html", poll, pending=pending)
        except Problem as problem:
            errors = problem.errors or {"form": [problem.detail or problem.title]}
            status = problem.status
    else:
        status = 422
    return _page(
        "polls/widget.html",
        poll,
        status=status,
        state=lifecycle.effective_state(poll),
        results=_results_for(poll),
        errors=errors,
        form=form,
    )


@widget_blp.post("/widget/pending/<pending_id>/cancel")
@accepts("application/x-www-form-urlencoded", "multipart/form-data")
@public("the pending vote's secret id is the credential")
def widget_cancel(pending_id: str):
    poll_id = request.form.get("poll", type=int)
    poll = db.session.get(Poll, poll_id) if is_id(poll_id) else None
    try:
        voting.cancel_pending(db.session, pending_id[:64])
    except Problem as problem:
        return _page(
            "polls/message.html",
            poll,
            status=problem.status,
            ok=False,
            problem=problem,
            framed=True,
        )
    return _page("polls/message.html", poll, ok=True, cancelled=True, framed=True)


@widget_blp.post("/votes/confirm")
@accepts("application/x-www-form-urlencoded", "multipart/form-data")
@public("auth's proof, from the email's link, is the credential")
def confirmed():
    """Count the vote auth's proof confirms, once: the Confirm button on the email
    link's page POSTs the proof here."""
    proof = request.form.get("proof", "")[:4000]
    try:
        with force_locale(_language(None)):  # no poll known yet
            claims = verify_service_token(proof, "email-proof")
    except InvalidToken as problem:
        return _page("polls/message.html", None, status=400, ok=False, problem=problem)
    except Problem as problem:  # auth's keys could not be fetched
        return _page("polls/message.html", None, status=problem.status, ok=False, problem=problem)
    # The proof names the poll, so even a refusal is told in the poll's language.
    poll = voting.poll_named_by(db.session, claims)
    language = _language(poll)
    with force_locale(language):
        try:
            counted = voting.confirm_email_vote(db.session, claims, poll)
        except Problem as problem:
            return _page(
                "polls/message.html", poll, status=problem.status, ok=False, problem=problem
            )
    page = _counted_page(poll, counted, _results_after_vote(poll, counted), language)
    return _framable(page, poll)


def _counted_page(
    poll: PublishedPoll, counted: voting.CountedVote, results: dict | None, language: str
) -> str:
    """ "Thank you! Your vote was counted": alike for everyone voting in one poll in one
    language while its results stand still, but for the receipt, so rendered once
    around its mark (services.common.marks): Confirm's busiest moments are many voters
    of one poll."""
    shown = None
    if results is not None:
        counts = tuple((option["id"], option["votes"]) for option in results["options"])
        shown = (results["state"], results["final"], results["voters"], counts)
    page = _counted_page_around_mark(current_app.config["PUBLIC_URL"], language, poll, shown)
    return put_in(page, {"receipt": counted.receipt}, html=True)


@functools.lru_cache(maxsize=1024)
def _counted_page_around_mark(
    public_url: str, language: str, poll: PublishedPoll, shown: tuple | None
) -> str:
    results = None
    if shown is not None:
        state, final, voters, counts = shown
        results = tallies.results_of(poll, state, final, voters, dict(counts))
    with force_locale(language):
        return render_template(
            "polls/message.html",
            poll=poll,
            lang=language,
            height_script=HEIGHT_SCRIPT,
            ok=True,
            receipt=mark("receipt"),
            results=results,
        )


@widget_blp.get("/widget.js")
def embed_script():
    """Turns <script src=".../widget.js" data-poll="7"> into the poll's iframe."""
    response = make_response(EMBED_SCRIPT)
    response.mimetype = "text/javascript"
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
