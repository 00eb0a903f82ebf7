"""Pages for a council's moderators: the moderation queue, decisions, the response."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from .api import api
from .pages import page_form, signed_in
from .session import check_csrf

council_pages = Blueprint("council", __name__)


def _login_first():
    return redirect(url_for("pages.login", next=request.path), code=303)


@council_pages.get("/councils/<council>/moderation")
def moderation(council: str):
    if not signed_in():
        return _login_first()
    queue = api("petitions", "GET", f"/councils/{council}/moderation")
    policy = api("petitions", "GET", f"/councils/{council}/policy", signed_in=False)
    return (
        render_template(
            "ui/moderation.html",
            council=council,
            queue=queue,
            reasons=policy.body.get("rejection_reasons", []) if policy.ok else [],
            errors={},
        ),
        queue.status if not queue.ok else 200,
    )


@council_pages.post("/councils/<council>/petitions/<int:petition_id>/<decision>")
@page_form
def decide(council: str, petition_id: int, decision: str):
    """Approve, reject (reason and explanation) or take down, then back to the queue."""
    check_csrf()
    if not signed_in():
        return _login_first()
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
    answer = api("petitions", "POST", f"/petitions/{petition_id}/{decision}", bodies[decision])
    if answer.ok:
        return redirect(url_for("council.moderation", council=council), code=303)
    queue = api("petitions", "GET", f"/councils/{council}/moderation")
    policy = api("petitions", "GET", f"/councils/{council}/policy", signed_in=False)
    return (
        render_template(
            "ui/moderation.html",
            council=council,
            queue=queue,
            reasons=policy.body.get("rejection_reasons", []) if policy.ok else [],
            errors={petition_id: answer.errors()},
        ),
        answer.status,
    )


@council_pages.post("/petitions/<int:petition_id>/response")
@page_form
def respond(petition_id: int):
    """The council's official response, published from the petition's page."""
    check_csrf()
    if not signed_in():
        return _login_first()
    answer = api(
        "petitions",
        "POST",
        f"/petitions/{petition_id}/response",
        {"text": request.form.get("text", ""), "decision": request.form.get("decision", "")},
    )
    target = url_for("pages.petition", petition_id=petition_id)
    if answer.ok:
        return redirect(target, code=303)
    detail = " ".join(" ".join(v) for v in answer.errors().values())
    return render_template("ui/message.html", ok=False, message=detail, back=target), answer.status
