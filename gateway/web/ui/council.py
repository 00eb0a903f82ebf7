"""Pages for a council's moderators: the moderation queue, decisions, the response."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext

from services.common.councils import council_language, council_zone, forget_councils
from services.common.errors import N_
from services.common.i18n import LANGUAGE_COOKIE, request_locale
from services.common.timeutil import NonexistentLocalTime, local_to_utc

from .api import Answer, api, download, renew_tokens
from .filters import REASON_LABELS
from .pages import (
    back_to_petition_page,
    page_form,
    refused_on_petition_page,
    token_claims,
    under_form,
)
from .session import (
    check_csrf,
    leave_notice,
    session,
    sign_in_first,
    signed_in,
    signed_in_form,
    signed_in_page,
)

council_pages = Blueprint("council", __name__)

ROLES = ("moderator", "admin")  # as auth's API names them, and the roles page offers them
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,10}")


def whole_number(text: str) -> int | None:
    """The number a form field holds, or None. Not str.isdigit: it takes "²", which
    int() refuses."""
    return int(text) if WHOLE_NUMBER.fullmatch(text) else None


def _moderation_page(council: str, failed: dict | None = None, status: int | None = None):
    """The queue; `failed`: a decision the API refused, as typed, with its errors."""
    queue = api(
        "petitions",
        "GET",
        f"/councils/{council}/moderation",
        query={"cursor": request.args.get("cursor")},
    )
    policy = api("petitions", "GET", f"/councils/{council}/policy", signed_in=False)
    # Those that reached their threshold, the answer due soonest first (overdue on top).
    owed = api(
        "petitions",
        "GET",
        "/petitions",
        query={"council": council, "state": "successful", "limit": 100},
        signed_in=False,
    )
    return (
        render_template(
            "ui/moderation.html",
            council=council,
            queue=queue,
            owed=sorted(
                owed.body["petitions"] if owed.ok and queue.ok else [],
                key=lambda petition: petition["response_due_at"] or "",
            ),
            reasons=policy.body.get("rejection_reasons", []) if policy.ok else [],
            failed=failed or {},
        ),
        status or (queue.status if not queue.ok else 200),
    )


@council_pages.get("/councils/<council:council>/moderation")
@signed_in_page
def moderation(council: str):
    return _moderation_page(council)


# What a moderator is told once the API took the decision.
DECIDED = {
    "approve": N_("The petition is approved and collects signatures."),
    "reject": N_("The petition is rejected; its author is told why."),
    "take-down": N_("The petition is taken down."),
}
POLL_MOVED = {
    "publish": N_("The poll is published."),
    "close": N_("The poll is closed."),
    "archive": N_("The poll is archived."),
}


@council_pages.post("/councils/<council:council>/petitions/<int:petition_id>/<decision>")
@page_form
@signed_in_form
def decide(council: str, petition_id: int, decision: str):
    """Approve, reject (reason and explanation) or take down, then back to the queue; when
    refused, back to the form as typed with the errors beside its fields."""
    bodies = {
        "approve": None,
        "reject": {
            "reason": request.form.get("reason", ""),
            "explanation": request.form.get("explanation", ""),
        },
        "take-down": {"reason": request.form.get("reason", "")},
    }
    if decision not in bodies:
        return redirect(url_for("council.moderation", council=council), code=303)
    typed = bodies[decision] or {}
    answer = api("petitions", "POST", f"/petitions/{petition_id}/{decision}", bodies[decision])
    if answer.ok:
        leave_notice(DECIDED[decision])
        if decision == "take-down":
            return redirect(url_for("pages.petition", petition_id=petition_id), code=303)
        return redirect(url_for("council.moderation", council=council), code=303)
    if decision == "take-down":  # offered on the petition's page
        return refused_on_petition_page(petition_id, "take_down", answer, typed)
    failed = {"petition": petition_id, "decision": decision, "typed": typed}
    return _moderation_page(council, failed | {"errors": answer.errors()}, answer.status)


@council_pages.post("/petitions/<int:petition_id>/response")
@page_form
@signed_in_form
def respond(petition_id: int):
    """The council's official response, published from the petition's page."""
    typed = {key: request.form.get(key, "") for key in ("text", "decision")}
    answer = api("petitions", "POST", f"/petitions/{petition_id}/response", typed)
    done = N_("The response is published; its author and signers are told.")
    return back_to_petition_page(petition_id, "response", answer, typed, done)


INVALIDATION_FIELDS = ("signed_from", "signed_until", "user_id", "reason")


@council_pages.post("/petitions/<int:petition_id>/invalidations")
@page_form
@signed_in_form
def invalidate(petition_id: int):
    """Set signatures aside by time window and/or account, with a reason (the council's
    moderators, from the petition's page). The times are typed on the council's clocks."""
    typed = {key: request.form.get(key, "").strip() for key in INVALIDATION_FIELDS}
    petition = api("petitions", "GET", f"/petitions/{petition_id}")
    if not petition.ok:
        return refused_on_petition_page(petition_id, "invalidate", petition, typed)
    times, errors = local_times(typed, ("signed_from", "signed_until"), petition.body["council"])
    if errors:
        return refused_on_petition_page(
            petition_id, "invalidate", Answer(422, {"errors": errors}), typed
        )
    body = {key: value for key, value in typed.items() if value and key != "reason"}
    body.update(times)
    body["reason"] = typed["reason"]
    answer = api("petitions", "POST", f"/petitions/{petition_id}/invalidations", body)
    done = N_("The signatures are set aside: they no longer count.")
    return back_to_petition_page(petition_id, "invalidate", answer, typed, done)


@council_pages.post("/petitions/<int:petition_id>/invalidations/<int:invalidation_id>/revert")
@page_form
@signed_in_form
def revert_invalidation(petition_id: int, invalidation_id: int):
    """Count an invalidation's signatures again (the council's moderators)."""
    path = f"/petitions/{petition_id}/invalidations/{invalidation_id}/revert"
    answer = api("petitions", "POST", path)
    done = N_("Those signatures count again.")
    return back_to_petition_page(petition_id, "invalidate", answer, {}, done)


@council_pages.get("/petitions/<int:petition_id>/signers.csv")
@signed_in_page
def signers_csv(petition_id: int):
    """Who signed, as a CSV, for the council's moderators: the API's file with the
    session's token (the browser holds none), handed on as it arrives, never read whole."""
    got = download("petitions", f"/petitions/{petition_id}/signers.csv")
    if isinstance(got, Answer):
        message = " ".join(m for found in got.errors().values() for m in found)
        back = url_for("pages.petition", petition_id=petition_id)
        return render_template("ui/message.html", ok=False, message=message, back=back), got.status
    kept = {
        name: value
        for name, value in got.headers.items()
        if name.lower() in ("content-type", "content-disposition")
    }
    headers = {**kept, "Cache-Control": "private, no-store", "Vary": "Cookie"}
    return Response(got.chunks, status=got.status, headers=headers)


@council_pages.get("/councils/<council:council>")
def council_home(council: str):
    """A council's home: its petitions collecting signatures, those awaiting its answer
    and the answered ones, and its polls."""
    known = api("auth", "GET", f"/councils/{council}", signed_in=False)
    if known.status == 404:
        abort(404)
    # What residents come for: what they may sign, and what the council owes or gave.
    petitions = {
        state: api(
            "petitions",
            "GET",
            "/petitions",
            query={"council": council, "state": state, "limit": limit},
            signed_in=False,
        )
        for state, limit in (("open", 20), ("successful", 10), ("answered", 10))
    }
    polls = api("polls", "GET", "/polls", query={"council": council}, signed_in=False)
    rules = api("petitions", "GET", f"/councils/{council}/policy", signed_in=False)
    language = request_locale()
    if not (request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)):
        language = known.body["default_language"]  # a council's own language comes first
    g.locale = language
    with force_locale(language):
        return render_template(
            "ui/council.html",
            council=known.body,
            petitions={
                state: answer.body["petitions"] if answer.ok else []
                for state, answer in petitions.items()
            },
            polls=polls.body["polls"] if polls.ok else [],
            rejected_public=rules.ok and rules.body.get("rejected_public", False),
        )


@council_pages.get("/councils/<council:council>/rejected")
def rejected(council: str):
    """The council's rejected petitions with the reasons, where it publishes them."""
    known = api("auth", "GET", f"/councils/{council}", signed_in=False)
    if known.status == 404:
        abort(404)
    answer = api(
        "petitions",
        "GET",
        f"/councils/{council}/rejected",
        query={"cursor": request.args.get("cursor")},
        signed_in=False,
    )
    return render_template("ui/rejected.html", council=known.body, answer=answer), answer.status


@council_pages.get("/councils/<council:council>/polls")
@signed_in_page
def manage_polls(council: str):
    """The council's polls for its moderators: drafts, published ones, a new one."""
    return _polls_page(council, errors={}, form={})


def _polls_page(
    council: str, errors: dict, form: dict, status: int = 200, changing: dict | None = None
):
    """The polls page; `changing` holds a draft's change form as typed, to correct."""
    drafts = api("polls", "GET", "/polls", query={"council": council, "state": "draft"})
    if drafts.status in (401, 403):
        return render_template(
            "ui/message.html", ok=False, message=drafts.errors()["form"][0], back=None
        ), drafts.status
    published = api("polls", "GET", "/polls", query={"council": council})
    polls = (drafts.body["polls"] if drafts.ok else []) + (
        published.body["polls"] if published.ok else []
    )
    snippets = {}
    for poll in polls:
        if poll["state"] != "draft":
            embed = api("polls", "GET", f"/polls/{poll['id']}/embed")
            snippets[poll["id"]] = embed.body if embed.ok else None
    return (
        render_template(
            "ui/manage_polls.html",
            council=council,
            polls=polls,
            snippets=snippets,
            errors=errors,
            form=form,
            changing=changing or {},
            zone=council_zone(council),
            # A new poll speaks the council's language unless its moderator says otherwise.
            language=form.get("language") or council_language(council) or request_locale(),
        ),
        status,
    )


@council_pages.post("/councils/<council:council>/polls")
@page_form
@signed_in_form
def create_poll(council: str):
    form = {key: request.form.get(key, "") for key in POLL_FIELDS}
    body = {
        "council": council,
        "question": form["question"],
        "description": form["description"],
        "options": lines(form["options"]),
        "method": form["method"] or "email",
        "results_visibility": form["results_visibility"] or "always",
        "language": form["language"] or "uk",
    }
    times, errors = local_times(form, TIMES, council)
    body["max_choices"] = choices_allowed(form["max_choices"], errors)
    if errors:
        return _polls_page(council, errors=errors, form=form, status=422)
    body.update(times)
    created = api("polls", "POST", "/polls", body)
    if created.ok:
        leave_notice(N_("The poll is created as a draft: publish it when it is ready."))
        return redirect(url_for("council.manage_polls", council=council), code=303)
    return _polls_page(
        council, errors=by_field(created.errors(), form), form=form, status=created.status
    )


TIMES = ("opens_at", "closes_at")
DRAFT_FIELDS = ("question", "description", "options", "max_choices", *TIMES)


def choices_allowed(typed: str, errors: dict) -> int | None:
    """How many answers a voter may choose, as typed (one when left empty); the API
    says what is out of range, in its words. Not a number: said in `errors`."""
    if not typed.strip():
        return 1
    number = whole_number(typed.strip())
    if number is None:
        errors["max_choices"] = [gettext("Give a whole number, such as 3.")]
    return number


def lines(text: str) -> list[str]:
    """A textarea's entries (poll answers, websites, dates), one per line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def by_field(errors: dict, typed: dict) -> dict[str, list[str]]:
    """The API's field errors under the form's fields. The API names an entry of a list
    by its index (`options.2`); a list typed one entry per line (`lines`) says on which
    line of what was typed, blank lines counted, as the textarea shows them."""
    shown: dict[str, list[str]] = {}
    for key, messages in errors.items():
        name, _, index = key.partition(".")
        entry = whole_number(index) if name in typed else None
        numbers = [n for n, line in enumerate(typed.get(name, "").splitlines(), 1) if line.strip()]
        if entry is not None and 0 <= entry < len(numbers):
            messages = [
                gettext("Line %(number)s: %(message)s", number=numbers[entry], message=message)
                for message in messages
            ]
        shown.setdefault(name, []).extend(messages)
    return shown


def local_times(form: dict, keys: tuple[str, ...], council: str) -> tuple[dict, dict]:
    """The form's times under `keys`, typed on the council's clocks, as UTC for the API;
    and what is wrong with them. A time the autumn fall-back repeats is its first
    occurrence (local_to_utc). The form keeps what was typed, so a page shown again shows
    the local times, not UTC."""
    zone = council_zone(council)
    times, errors = {}, {}
    for key in keys:
        if not form[key]:
            continue
        try:
            local = datetime.fromisoformat(form[key])
        except ValueError:
            times[key] = form[key]  # the API says what is wrong with it, in its words
            continue
        try:
            times[key] = local_to_utc(local, zone).isoformat()
        except OverflowError:  # year 1 or 9999: the API refuses the year, in its words
            times[key] = local.replace(tzinfo=UTC).isoformat()
        except NonexistentLocalTime:
            # Refused, not moved: the moderator chooses what the poll does in that hour.
            errors[key] = [
                gettext(
                    "The clocks in %(zone)s skip this time: they move forward an hour then."
                    " Choose another time.",
                    zone=zone.key,
                )
            ]
    return times, errors


POLL_FIELDS = (
    "question",
    "description",
    "options",
    "method",
    "results_visibility",
    "language",
    "max_choices",
    "opens_at",
    "closes_at",
)


@council_pages.post("/councils/<council:council>/polls/<int:poll_id>/change")
@page_form
@signed_in_form
def change_draft(council: str, poll_id: int):
    """Change a draft's question, answers or times (a published poll stays as it is)."""
    form = {key: request.form.get(key, "") for key in DRAFT_FIELDS}
    changes: dict = {
        "question": form["question"],
        "description": form["description"],
        "options": lines(form["options"]),
    }
    # A time sent back as the form showed it stays as stored: a wall-clock time the
    # autumn repeats could not be told back into the moment it was.
    changed = {key: form[key] for key in TIMES if form[key] != request.form.get(f"shown_{key}")}
    times, errors = local_times({key: changed.get(key, "") for key in TIMES}, TIMES, council)
    changes.update(times)
    changes["max_choices"] = choices_allowed(form["max_choices"], errors)
    changes.update({key: None for key, typed in changed.items() if not typed})  # emptied
    if errors:
        return _polls_page(
            council, errors={poll_id: errors}, form={}, status=422, changing={poll_id: form}
        )
    answer = api("polls", "PATCH", f"/polls/{poll_id}", changes)
    return _after_poll_change(council, poll_id, answer, N_("The draft is saved."), form)


@council_pages.post("/councils/<council:council>/polls/<int:poll_id>/delete")
@page_form
@signed_in_form
def delete_draft(council: str, poll_id: int):
    """Delete a draft (a published poll is closed instead)."""
    answer = api("polls", "DELETE", f"/polls/{poll_id}")
    return _after_poll_change(council, poll_id, answer, N_("The draft is deleted."))


@council_pages.post("/councils/<council:council>/polls/<int:poll_id>/<action>")
@page_form
@signed_in_form
def move_poll(council: str, poll_id: int, action: str):
    """Publish (open or schedule), close or archive a poll."""
    if action not in ("publish", "close", "archive"):
        abort(404)
    answer = api("polls", "POST", f"/polls/{poll_id}/{action}")
    return _after_poll_change(council, poll_id, answer, POLL_MOVED[action])


def _after_poll_change(council: str, poll_id: int, answer, done: str, typed: dict | None = None):
    """Back to the polls page: saying `done` when the API took the change, else with
    what it said is wrong beside the poll (and the change form as typed, to correct)."""
    if answer.ok:
        leave_notice(done)
        return redirect(url_for("council.manage_polls", council=council), code=303)
    return _polls_page(
        council,
        errors={poll_id: by_field(answer.errors(), typed or {})},
        form={},
        status=answer.status,
        changing={poll_id: typed} if typed else None,
    )


PETITION_NUMBERS = (
    "threshold",
    "collection_days",
    "sponsors_needed",
    "moderation_days",
    "response_days",
)
PETITION_CHOICES = ("signer_verification", "author_verification", "on_failure")
PETITION_SWITCHES = ("signer_names_public", "rejected_public", "allow_withdrawal")
# The rejection reasons: a box for each of the catalogue's (labelled in every language),
# and the council's own, typed one a line (shown as typed).
CATALOGUE_REASONS = tuple(REASON_LABELS)
REASON_SWITCHES = tuple(f"reason_{reason}" for reason in CATALOGUE_REASONS)
LISTS = ("non_working_days", "widget_origins", "rejection_reasons")  # one entry a line
COUNCIL_TEXTS = ("default_language", "time_zone")  # auth's council; the rest are policies
SETTINGS_TEXTS = (*PETITION_NUMBERS, *PETITION_CHOICES, *LISTS, *COUNCIL_TEXTS)
SETTINGS_SWITCHES = (*PETITION_SWITCHES, "block_disposable_email", *REASON_SWITCHES)


def _stored_settings(council: str) -> dict:
    """The council's settings as the form shows them."""
    petitions = api("petitions", "GET", f"/councils/{council}/policy", signed_in=False)
    polls = api("polls", "GET", f"/councils/{council}/policy", signed_in=False)
    known = api("auth", "GET", f"/councils/{council}", signed_in=False)  # not the memo: fresh
    shown = {
        **(petitions.body if petitions.ok else {}),
        **(polls.body if polls.ok else {}),
        **{key: known.body.get(key, "") if known.ok else "" for key in COUNCIL_TEXTS},
    }
    reasons = shown.get("rejection_reasons", [])
    shown["rejection_reasons"] = [reason for reason in reasons if reason not in REASON_LABELS]
    shown |= {f"reason_{reason}": reason in reasons for reason in CATALOGUE_REASONS}
    return shown | {key: "\n".join(shown.get(key, [])) for key in LISTS}


def _settings_page(
    council: str,
    shown: dict | None = None,
    errors: dict | None = None,
    saved: bool = False,
    status=200,
):
    """The settings form: as stored, or as typed (`shown`) to correct."""
    return (
        render_template(
            "ui/settings.html",
            council=council,
            shown=_stored_settings(council) if shown is None else shown,
            errors=errors or {},
            saved=saved,
            catalogue=CATALOGUE_REASONS,
        ),
        status,
    )


@council_pages.get("/councils/<council:council>/settings")
@signed_in_page
def settings(council: str):
    """The council's rules for petitions and polls (its admins change them)."""
    return _settings_page(council)


@council_pages.post("/councils/<council:council>/settings")
@page_form
@signed_in_form
def save_settings(council: str):
    """All the council's settings at once, or none: they live in three services (the
    default language and time zone in auth's council, the rules with petitions and
    polls) and no transaction spans them, so each service first checks its part
    (`check_only`) and only when every one would take its part are they saved. Between
    the check and the save only a service failing or the admin losing the role could
    refuse a part; the page then says which."""
    typed = {key: request.form.get(key, "").strip() for key in SETTINGS_TEXTS}
    typed.update({key: request.form.get(key) == "on" for key in SETTINGS_SWITCHES})
    errors: dict[str, list[str]] = {}
    petitions: dict = {key: typed[key] for key in PETITION_CHOICES if typed[key]}
    for key in PETITION_NUMBERS:
        number = whole_number(typed[key])
        if number is not None:
            petitions[key] = number
        elif typed[key]:
            errors[key] = [gettext("Give a whole number, such as 30.")]
    petitions.update({key: typed[key] for key in PETITION_SWITCHES})
    petitions["non_working_days"] = lines(typed["non_working_days"])
    # The council's own first: the API's `rejection_reasons.<n>` is then the nth line typed.
    petitions["rejection_reasons"] = lines(typed["rejection_reasons"]) + [
        reason for reason in CATALOGUE_REASONS if typed[f"reason_{reason}"]
    ]
    polls = {
        "widget_origins": lines(typed["widget_origins"]),
        "block_disposable_email": typed["block_disposable_email"],
    }
    parts = [
        ("petitions", "PUT", f"/councils/{council}/policy", petitions),
        ("polls", "PUT", f"/councils/{council}/policy", polls),
    ]
    changes = {key: typed[key] for key in COUNCIL_TEXTS if typed[key]}
    if changes:
        parts.append(("auth", "PATCH", f"/councils/{council}", changes))
    status = 422 if errors else 200
    for check_only in ("true", None):
        for service, method, path, body in parts:
            answer = api(service, method, path, body, query={"check_only": check_only})
            if answer.ok:
                continue
            status = answer.status
            for key, messages in by_field(answer.errors(), {k: typed[k] for k in LISTS}).items():
                errors.setdefault(key, []).extend(messages)
            if status != 422:
                break  # refused or failing, not a value: the other parts would say the same
        if errors:
            return _settings_page(council, shown=typed, errors=errors, status=status)
    forget_councils()  # this process shows a new time zone and language at once
    return _settings_page(council, saved=True)


@council_pages.get("/councils/<council:council>/roles")
@signed_in_page
def roles(council: str):
    """Who moderates and administers the council, and who is invited (its admins invite
    by email, grant and revoke)."""
    return _roles_page(council)


def _roles_page(
    council: str, errors: dict | None = None, status: int = 200, typed: dict | None = None
):
    """The roles page; `typed`: what the form the API refused sent, to correct."""
    listed = api("auth", "GET", f"/councils/{council}/roles")
    if not listed.ok:
        return render_template(
            "ui/message.html", ok=False, message=listed.errors()["form"][0], back=None
        ), listed.status
    invited = api("auth", "GET", f"/councils/{council}/invitations")
    return (
        render_template(
            "ui/roles.html",
            council=council,
            roles=listed.body["roles"],
            invitations=invited.body["invitations"] if invited.ok else [],
            # Granting by account number is the platform admins' (auth refuses others).
            by_number=token_claims(session().get("access")).get("platform_admin") is True,
            errors=errors or {},
            typed=typed or {},
        ),
        status,
    )


@council_pages.post("/councils/<council:council>/roles/<change>")
@page_form
@signed_in_form
def change_role(council: str, change: str):
    user_id, role = request.form.get("user_id", ""), request.form.get("role", "")
    account = whole_number(user_id)
    if change not in ("grant", "revoke"):
        abort(404)
    typed = {"user_id": user_id} if change == "grant" else {}  # the revoke form types nothing
    if account is None or account < 0:
        number = gettext("Give the account number in digits, as its owner's account page shows it.")
        return _roles_page(council, errors={"user_id": [number]}, status=422, typed=typed)
    if role not in ROLES:
        role_error = gettext("Choose a role from the list.")
        return _roles_page(council, errors={"role": [role_error]}, status=422, typed=typed)
    method = "PUT" if change == "grant" else "DELETE"
    answer = api("auth", method, f"/councils/{council}/roles/{account}/{role}")
    if not answer.ok:
        return _roles_page(council, errors=answer.errors(), status=answer.status, typed=typed)
    leave_notice(N_("The role is granted.") if change == "grant" else N_("The role is taken away."))
    return redirect(url_for("council.roles", council=council), code=303)


@council_pages.post("/councils/<council:council>/invitations")
@page_form
@signed_in_form
def invite(council: str):
    """Invite an email address to a role; auth mails the link."""
    typed = {"email": request.form.get("email", "").strip(), "role": request.form.get("role", "")}
    answer = api("auth", "POST", f"/councils/{council}/invitations", typed)
    if not answer.ok:
        errors = under_form(answer.errors(), "invite", typed)
        return _roles_page(council, errors=errors, status=answer.status, typed=typed)
    leave_notice(N_("The invitation is sent. The role is granted once it is accepted."))
    return redirect(url_for("council.roles", council=council), code=303)


@council_pages.post("/councils/<council:council>/invitations/<int:invitation_id>/withdraw")
@page_form
@signed_in_form
def withdraw_invitation(council: str, invitation_id: int):
    answer = api("auth", "DELETE", f"/councils/{council}/invitations/{invitation_id}")
    if not answer.ok:
        return _roles_page(council, errors=answer.errors(), status=answer.status)
    leave_notice(N_("The invitation is withdrawn: its link no longer works."))
    return redirect(url_for("council.roles", council=council), code=303)


def _refused_invitation(answer: Answer):
    return render_template(
        "ui/message.html", ok=False, message=answer.errors()["form"][0], back=None
    ), answer.status


@council_pages.get("/invitation")
def invitation():
    """The page an invitation's link opens: which council and role, and Accept. A GET
    only shows (a mail scanner that fetches the link accepts nothing)."""
    token = request.args.get("token", "")
    if not signed_in():
        return sign_in_first()
    offered = api("auth", "GET", f"/invitations/{quote(token, safe='')}")
    if not offered.ok:
        return _refused_invitation(offered)
    return render_template("ui/invitation.html", offered=offered.body, token=token)


@council_pages.post("/invitation")
@page_form
def accept_invitation():
    check_csrf()
    token = request.form.get("token", "")
    if not signed_in():
        return sign_in_first(url_for("council.invitation", token=token))
    answer = api("auth", "POST", f"/invitations/{quote(token, safe='')}/accept")
    if not answer.ok:
        return _refused_invitation(answer)
    renew_tokens()  # the new token names the role, and the menu offers its pages
    leave_notice(N_("The invitation is accepted: the role is yours."))
    return redirect(url_for("council.council_home", council=answer.body["council"]), code=303)
