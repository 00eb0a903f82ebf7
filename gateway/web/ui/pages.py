"""Pages for residents: petitions, polls, signing in and out, registering."""

from __future__ import annotations

from datetime import datetime

import jwt
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from services.common.app import public
from services.common.councils import council_name
from services.common.errors import N_
from services.common.timeutil import utcnow

from .api import Answer, SignInNeeded, api
from .session import (
    check_csrf,
    leave_notice,
    page_shown,
    session,
    sign_in_first,
    signed_in,
    signed_in_form,
    signed_in_page,
)

pages = Blueprint("pages", __name__)
# The pages' forms: each checks the CSRF token of the visitor's own session, and the API
# behind it decides what the visitor may do.
page_form = public("a page's form: CSRF-checked; the API behind it checks the visitor")

SORT_LABELS = {
    "newest": _l("Newest"),
    "most_signed": _l("Most signed"),
    "closing_soon": _l("Closing soon"),
}


def _moderates(council: str) -> bool:
    """Whether the visitor's token names a role in `council` (to offer its forms)."""
    return bool(session().get("roles", {}).get(council)) if signed_in() else False


def token_claims(access_token: str | None) -> dict:
    """What the visitor's token says, to decide which forms to offer. Read without
    checking the signature: it only shapes the page; every API call checks the token."""
    try:
        return jwt.decode(access_token or "", options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def token_roles(access_token: str) -> dict:
    """The roles the visitor's token names."""
    roles = token_claims(access_token).get("roles")
    return roles if isinstance(roles, dict) else {}


def missing_verification(refused: Answer) -> str | None:
    """What the visitor has yet to verify ("email", "phone") for the API to take the
    action it refused (api() has just renewed the token, so its claims are current)."""
    if not refused.needs_verification:
        return None
    return "phone" if token_claims(session().get("access")).get("email_verified") else "email"


@pages.app_errorhandler(SignInNeeded)
def _session_ended(_exc):
    """The session ended (its refresh token expired or was withdrawn): sign in again,
    then back to the page the visitor was on."""
    return sign_in_first()


@pages.app_template_global()
def takes_signatures(petition: dict | None) -> bool:
    """Whether the petition takes signatures now, as the API decides it: open and before
    its deadline. Its state still reads open for a few seconds after the deadline, until
    the deadline job judges it; the Sign form is not offered then."""
    if not petition or petition["state"] != "open":
        return False
    deadline = petition.get("deadline_at")
    return deadline is None or datetime.fromisoformat(deadline) > utcnow()


def not_now(answer: Answer):
    """A page saying that what the visitor asked for cannot be shown now: the service
    behind it failed (a 5xx: try again soon, still signed in), or refused (its words)."""
    if answer.status >= 500:
        message = gettext(
            "The service is unavailable for a moment. Try again in a minute:"
            " you are still signed in."
        )
    else:
        message = " ".join(m for found in answer.errors().values() for m in found)
    back = page_shown()[0] if request.method == "POST" else None
    return render_template("ui/message.html", ok=False, message=message, back=back), answer.status


@pages.app_context_processor
def _visitor():
    return {
        "visitor_name": session().get("name") if signed_in() else None,
        "visitor_councils": visitor_councils() if signed_in() else [],
    }


def visitor_councils() -> list[dict]:
    """The councils the visitor's token names a role in, for the menu: each by its name
    (as people know it, not its address), and whether the visitor administers it (its
    settings and roles are offered then; the API still decides)."""
    roles = session().get("roles") or {}
    councils = [
        {"slug": slug, "name": council_name(slug), "admin": "admin" in (held or [])}
        for slug, held in roles.items()
    ]
    councils.sort(key=lambda council: (council["name"].casefold(), council["slug"]))
    for council, badge in zip(councils, council_badges([c["name"] for c in councils]), strict=True):
        council["badge"] = badge
    return councils


def council_badges(names: list[str]) -> list[str]:
    """What stands for each council in the phone's closed menu: its initial, or, where
    another council's is the same, as many of its words' initials (then of its first
    word's letters) as tell them apart, three at most; numbered where even those are
    alike (two councils of one name)."""

    def forms(name: str) -> list[str]:
        words = ["".join(ch for ch in word if ch.isalnum()) for word in name.split()]
        words = [word for word in words if word] or ["?"]
        initials = "".join(word[0] for word in words)
        found = [initials[:1], initials[:2], initials[:3], words[0][:2], words[0][:3]]
        return [form.upper() for form in dict.fromkeys(found)]

    choices = [forms(name) for name in names]
    level = [0] * len(names)
    while True:
        badges = [choice[at] for choice, at in zip(choices, level, strict=True)]
        alike = [n for n, badge in enumerate(badges) if badges.count(badge) > 1]
        deeper = [n for n in alike if level[n] < len(choices[n]) - 1]
        if not deeper:
            break
        for n in deeper:
            level[n] += 1
    seen: dict[str, int] = {}
    for n in alike:
        seen[badges[n]] = seen.get(badges[n], 0) + 1
        badges[n] += str(seen[badges[n]])
    return badges


@pages.get("/petitions")
def petitions():
    """The published petitions: searched, by state and council, in an order, a page at
    a time."""
    return public_list(
        "petitions",
        ("q", "sort", "state", "council", "cursor"),
        "ui/petitions.html",
        sorts=SORT_LABELS,
    )


def public_list(service: str, filters: tuple[str, ...], template: str, **context):
    """A public list page (petitions, polls): the service's list with the `filters` the
    address gives, and the councils to filter by. A filter the API refuses is said on the
    page, with the API's status."""
    query = {key: request.args[key] for key in filters if request.args.get(key)}
    answer = api(service, "GET", f"/{service}", query=query, signed_in=False)
    councils = api("auth", "GET", "/councils", signed_in=False)
    return render_template(
        template,
        answer=answer,
        query=query,
        councils=councils.body["councils"] if councils.ok else [],
        **context,
    ), (answer.status if answer.status >= 400 else 200)


def under_form(errors: dict, form: str, typed: dict) -> dict[str, list[str]]:
    """The API's errors on a page of several forms: a field's as `<form>_<field>`, the
    rest (the whole form's) as `<form>`."""
    named: dict[str, list[str]] = {}
    for key, messages in errors.items():
        named.setdefault(f"{form}_{key}" if key in typed else form, []).extend(messages)
    return named


def back_to_petition_page(petition_id: int, form: str, answer: Answer, typed: dict, done: str):
    """What a petition page's form (`form`, sent as `typed`) shows once the API answered:
    the page again with `done` said (untranslated, N_), or refused, the form as typed with
    its errors."""
    if answer.ok:
        leave_notice(done)
        return redirect(url_for("pages.petition", petition_id=petition_id), code=303)
    return refused_on_petition_page(petition_id, form, answer, typed)


def refused_on_petition_page(petition_id: int, form: str, answer: Answer, typed: dict):
    """A form of the petition's page that the API refused: the page again, the form as
    typed (its fields as `<form>_<field>`), each error beside its field."""
    errors = under_form(answer.errors(), form, typed)
    shown = {f"{form}_{key}": value for key, value in typed.items()}
    return petition_page(petition_id, errors, shown, answer.status)


@pages.get("/petitions/<int:petition_id>")
def petition(petition_id: int):
    return petition_page(petition_id)


def petition_page(
    petition_id: int,
    errors: dict | None = None,
    typed: dict | None = None,
    status: int = 200,
    missing: str | None = None,
    similar: list | None = None,
):
    """The petition's page; with a form as typed (`typed`) and what the API said is
    wrong with it (`errors`), keyed by the form's fields, to correct; when signing
    was refused for want of a verification, which (`missing`), to say how to get it;
    and the published petitions like a draft its author is submitting (`similar`)."""
    answer = api("petitions", "GET", f"/petitions/{petition_id}")
    if answer.status == 404:
        abort(404)
    # A petition that has taken signatures, seen by a moderator of its council who may
    # decide on it (the API refuses its author).
    moderates_published = (
        answer.ok
        and answer.body["state"] in ("open", "successful", "answered", "closed")
        and _moderates(answer.body["council"])
    )
    decides = answer.ok and not answer.body.get("yours")
    timeline = api("petitions", "GET", f"/petitions/{petition_id}/timeline")
    signers = api("petitions", "GET", f"/petitions/{petition_id}/signers", signed_in=False)
    own = sponsorship = None
    withdrawable = False
    invalidations = []
    if moderates_published:  # what the council's moderators set aside, to count again
        listed = api("petitions", "GET", f"/petitions/{petition_id}/invalidations")
        invalidations = listed.body["invalidations"] if listed.ok else []
    if signed_in() and answer.ok:  # so that nobody is offered a signature they gave
        mine = api("petitions", "GET", f"/petitions/{petition_id}/signatures/mine")
        own = mine.body if mine.ok else None
    if own and own["counted"] and answer.body["state"] == "open":
        # The council's rules are public: offer to withdraw only where they allow it.
        council = answer.body["council"]
        rules = api("petitions", "GET", f"/councils/{council}/policy", signed_in=False)
        withdrawable = rules.ok and rules.body.get("allow_withdrawal", False)
    if answer.ok and answer.body["state"] == "sponsors":
        # Its author (and its moderators) see how many have backed it; the author also
        # gets the link to share.
        backing = api("petitions", "GET", f"/petitions/{petition_id}/sponsorship")
        sponsorship = backing.body if backing.ok else None
    # One's own signature shows in the count at once: counts are folded in a second or so
    # after signing (the page's script reads the count again then).
    own_pending = bool(own and own["counted"] and not own.get("in_count", True))
    return render_template(
        "ui/petition.html",
        answer=answer,
        petition=answer.body if answer.ok else None,
        count=answer.body.get("signatures", 0) + own_pending if answer.ok else 0,
        own_pending=own_pending,
        timeline=timeline.body["timeline"] if timeline.ok else [],
        signers=signers.body if signers.ok else None,
        names_public=signers.ok,
        signed_in=signed_in(),
        errors=errors or {},
        typed=typed or {},
        own=own,
        sponsorship=sponsorship,
        withdrawable=withdrawable,
        missing=missing,
        similar=similar or [],
        # The author's own draft: to edit, submit or delete.
        own_draft=answer.ok and answer.body["state"] == "draft" and answer.body.get("yours"),
        # The form is offered where the API would take it; the API still decides.
        can_respond=decides
        and answer.body["state"] == "successful"
        and _moderates(answer.body["council"]),
        can_download=moderates_published,
        can_take_down=decides and moderates_published and not answer.body["hidden"],
        can_invalidate=decides and moderates_published,
        invalidations=invalidations,
    ), status


@pages.get("/petitions/mine")
@signed_in_page
def my_petitions():
    """The visitor's own petitions in every state: drafts to edit, and those the public
    list does not show (awaiting moderation, collecting sponsors, taken down)."""
    answer = api(
        "petitions", "GET", "/petitions/mine", query={"cursor": request.args.get("cursor")}
    )
    page = render_template("ui/my_petitions.html", answer=answer)
    return page, answer.status if not answer.ok else 200, {"Cache-Control": "private, no-store"}


def similar_to(council: str, title: str) -> list[dict]:
    """Published petitions like one about to be submitted, to show first: nobody files a
    duplicate without seeing them."""
    if not (council and title):
        return []
    found = api(
        "petitions",
        "GET",
        "/petitions/similar",
        query={"council": council, "title": title},
        signed_in=False,
    )
    return found.body["petitions"] if found.ok else []


# What the author is told once a draft is submitted, by the state it went to.
SUBMITTED = {
    "sponsors": N_(
        "The petition is submitted. Share its link: once enough residents back it, it goes"
        " to the council's moderators."
    ),
    "moderation": N_("The petition is submitted to the council's moderators."),
}


def _submit(petition_id: int):
    """Submit a draft: taken, its page saying what happens next; refused, its page saying
    why (the draft is kept, to try again)."""
    answer = api("petitions", "POST", f"/petitions/{petition_id}/submit")
    if answer.ok:
        leave_notice(SUBMITTED.get(answer.body.get("state"), SUBMITTED["moderation"]))
        return redirect(url_for("pages.petition", petition_id=petition_id), code=303)
    refused = [message for found in answer.errors().values() for message in found]
    return petition_page(
        petition_id,
        errors={"submit": refused},
        status=answer.status,
        missing=missing_verification(answer),
    )


def _own_draft_form(petition_id: int):
    """None when the visitor may send a draft's form, else where to go instead."""
    check_csrf()
    if not signed_in():
        return sign_in_first(f"/petitions/{petition_id}")
    return None


@pages.post("/petitions/<int:petition_id>/edit")
@page_form
def edit_draft(petition_id: int):
    """Save a draft's title and text; when refused, the form again as typed."""
    if (away := _own_draft_form(petition_id)) is not None:
        return away
    typed = {key: request.form.get(key, "") for key in ("title", "text")}
    answer = api("petitions", "PATCH", f"/petitions/{petition_id}", typed)
    return back_to_petition_page(petition_id, "edit", answer, typed, N_("The draft is saved."))


@pages.post("/petitions/<int:petition_id>/submit")
@page_form
def submit_draft(petition_id: int):
    """Send a draft to the council: first the similar petitions, as on the new form."""
    if (away := _own_draft_form(petition_id)) is not None:
        return away
    if request.form.get("checked") != "1":
        draft = api("petitions", "GET", f"/petitions/{petition_id}")
        if draft.ok and (similar := similar_to(draft.body["council"], draft.body["title"] or "")):
            return petition_page(petition_id, similar=similar)
    return _submit(petition_id)


@pages.post("/petitions/<int:petition_id>/delete")
@page_form
def delete_draft(petition_id: int):
    """Delete a draft (the form is its confirmation step), then back to one's petitions."""
    if (away := _own_draft_form(petition_id)) is not None:
        return away
    answer = api("petitions", "DELETE", f"/petitions/{petition_id}")
    if answer.ok:
        leave_notice(N_("The draft is deleted."))
        return redirect(url_for("pages.my_petitions"), code=303)
    refused = [message for found in answer.errors().values() for message in found]
    return petition_page(petition_id, errors={"delete": refused}, status=answer.status)


@pages.get("/petitions/<int:petition_id>/signers")
def signers(petition_id: int):
    """The published list of signers past its first page, a page at a time."""
    answer = api("petitions", "GET", f"/petitions/{petition_id}")
    names = api(
        "petitions",
        "GET",
        f"/petitions/{petition_id}/signers",
        query={"cursor": request.args.get("cursor")},
        signed_in=False,
    )
    if 404 in (answer.status, names.status):
        abort(404)
    failed = next((a for a in (answer, names) if not a.ok), None)  # 403: not published
    return (
        render_template("ui/signers.html", petition=answer.body, signers=names.body, failed=failed),
        failed.status if failed else 200,
    )


@pages.post("/petitions/<int:petition_id>/sign")
@page_form
def sign(petition_id: int):
    check_csrf()
    if not signed_in():
        return sign_in_first(f"/petitions/{petition_id}")
    answer = api(
        "petitions",
        "POST",
        f"/petitions/{petition_id}/signatures",
        {"notify": request.form.get("notify") == "on"},
    )
    if answer.ok:
        # Said once, on the next page; the page reads the receipt back from the API: a
        # link to it, shared, says nothing about whoever opens it.
        leave_notice(N_("Thank you! Your signature was counted."))
        return redirect(url_for("pages.petition", petition_id=petition_id), code=303)
    return petition_page(
        petition_id,
        errors=answer.errors(),
        status=answer.status,
        missing=missing_verification(answer),
    )


@pages.post("/petitions/<int:petition_id>/withdraw")
@page_form
def withdraw(petition_id: int):
    """Take one's signature back (the form is its confirmation step)."""
    check_csrf()
    if not signed_in():
        return sign_in_first(f"/petitions/{petition_id}")
    answer = api("petitions", "DELETE", f"/petitions/{petition_id}/signatures/mine")
    if answer.ok:
        leave_notice(N_("Your signature was withdrawn: it no longer counts."))
        return redirect(url_for("pages.petition", petition_id=petition_id), code=303)
    refused = [message for found in answer.errors().values() for message in found]
    return petition_page(petition_id, errors={"withdraw": refused}, status=answer.status)


@pages.get("/petitions/<int:petition_id>/sponsor")
def sponsor(petition_id: int):
    """The page behind the link an author shares: the petition, and a button to back it."""
    return sponsor_page(petition_id, request.args.get("token", ""))


@pages.post("/petitions/<int:petition_id>/sponsor")
@page_form
def back_petition(petition_id: int):
    check_csrf()
    token = request.form.get("token", "")
    if not signed_in():
        return redirect(_sponsor_login(petition_id, token), code=303)
    answer = api("petitions", "POST", f"/petitions/{petition_id}/sponsors", {"token": token})
    if answer.ok:
        back = url_for("pages.sponsor", petition_id=petition_id, token=token, backed=1)
        return redirect(back, code=303)
    return sponsor_page(
        petition_id,
        token,
        errors=answer.errors(),
        status=answer.status,
        missing=missing_verification(answer),
    )


def _sponsor_login(petition_id: int, token: str) -> str:
    """The sign-in page, coming back to the sponsor page with its token."""
    back = url_for("pages.sponsor", petition_id=petition_id, token=token)
    return url_for("account.login", next=back)


def sponsor_page(
    petition_id: int,
    token: str,
    errors: dict | None = None,
    status: int = 200,
    missing: str | None = None,
):
    """The petition as the link shows it, how many back it; with what the API refused."""
    answer = api(
        "petitions", "GET", f"/petitions/{petition_id}/sponsorship", query={"token": token}
    )
    if not answer.ok and not errors:
        errors, status = answer.errors(), answer.status  # a wrong link reads as none
    return render_template(
        "ui/sponsor.html",
        sponsorship=answer.body if answer.ok else None,
        petition_id=petition_id,
        token=token,
        errors=errors or {},
        backed=request.args.get("backed") == "1",
        login=_sponsor_login(petition_id, token),
        signed_in=signed_in(),
        missing=missing,
    ), status


@pages.get("/polls")
def polls():
    """The published polls, newest first: every council's or one's, in one state or all."""
    return public_list("polls", ("state", "council", "after"), "ui/polls.html")


@pages.get("/polls/<int:poll_id>")
def poll(poll_id: int):
    """The poll's own page: the same widget a council embeds, and its results."""
    answer = api("polls", "GET", f"/polls/{poll_id}", signed_in=False)
    if answer.status == 404:
        abort(404)
    return render_template("ui/poll.html", poll=answer.body)


@pages.get("/petitions/new")
@signed_in_page
def new_petition():
    councils = api("auth", "GET", "/councils", signed_in=False)
    form = {"council": request.args.get("council", ""), "title": "", "text": ""}
    return render_template(
        "ui/new_petition.html",
        councils=councils.body.get("councils", []) if councils.ok else [],
        form=form,
        errors={},
        similar=[],
    )


@pages.post("/petitions/new")
@page_form
@signed_in_form
def file_petition():
    form = {key: request.form.get(key, "") for key in ("council", "title", "text")}
    councils = api("auth", "GET", "/councils", signed_in=False)
    as_draft = request.form.get("action") == "draft"
    similar = []
    if not as_draft and request.form.get("checked") != "1":
        similar = similar_to(form["council"], form["title"])
    errors, missing = {}, None
    if not similar:
        created = api("petitions", "POST", "/petitions", form)
        if created.ok and as_draft:
            leave_notice(N_("The draft is saved."))
            return redirect(url_for("pages.petition", petition_id=created.body["id"]), code=303)
        if created.ok:
            return _submit(created.body["id"])
        errors, missing = created.errors(), missing_verification(created)
    return render_template(
        "ui/new_petition.html",
        councils=councils.body.get("councils", []) if councils.ok else [],
        form=form,
        errors=errors,
        similar=similar,
        missing=missing,
    ), (422 if errors else 200)
