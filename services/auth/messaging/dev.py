"""The dev outbox: every email and SMS, readable in the browser, outside production.

So a new user of `make run` can click the confirmation link and read the SMS code
without a mail server or a phone. The route does not exist in production.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from ..models import db
from .models import OutboxMessage
from .outbox import dev_outbox_enabled

dev_blp = Blueprint("dev_outbox", __name__)


@dev_blp.before_request
def _only_outside_production():
    if not dev_outbox_enabled():
        abort(404)


@dev_blp.get("/dev/outbox")
def outbox():
    """Newest messages first."""
    messages = db.session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
    ).all()
    return render_template("dev/outbox.html", messages=messages)


@dev_blp.get("/dev/outbox/<int:message_id>")
def message(message_id: int):
    """One message, its HTML part shown in a sandboxed frame."""
    found = db.session.get(OutboxMessage, message_id) or abort(404)
    return render_template("dev/message.html", message=found)
