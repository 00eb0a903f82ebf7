"""Template filters: numbers and dates in the page's language, page links."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from babel.dates import format_date as babel_date
from flask_babel import gettext

from services.common.errors import N_
from services.common.i18n import request_locale


def format_date(value) -> str:
    """An ISO timestamp from the API as a date in the page's language."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return babel_date(moment, format="long", locale=request_locale())


def merge_query(query: dict, **changes) -> str:
    return urlencode({**query, **changes})


# The states of polls and petitions as people read them (translated in the template).
STATE_LABELS = {
    "draft": N_("Draft"),
    "scheduled": N_("Scheduled"),
    "open": N_("Open"),
    "closed": N_("Closed"),
    "archived": N_("Archived"),
}


# The rejection reasons every council starts with (a council may add its own words).
REASON_LABELS = {
    "duplicate": N_("A duplicate of another petition"),
    "outside-competence": N_("Outside the council's competence"),
    "unlawful-content": N_("Unlawful content (calls to violence or hatred)"),
    "unclear-request": N_("The request is unclear"),
    "personal-data": N_("Personal data of others"),
    "offensive": N_("Offensive"),
}


PETITION_STATE_LABELS = {
    "draft": N_("Draft"),
    "sponsors": N_("Collecting sponsors"),
    "moderation": N_("Awaiting moderation"),
    "open": N_("Collecting signatures"),
    "successful": N_("Waiting for the response"),
    "answered": N_("Answered"),
    # Not the polls' "Closed": in Ukrainian and Russian the word agrees with its noun.
    "closed": N_("Closed: not enough signatures"),
    "rejected": N_("Rejected"),
}


def petition_state_label(state: str) -> str:
    return PETITION_STATE_LABELS.get(state, state)


DECISION_LABELS = {
    "supported": N_("Supported"),
    "partly-supported": N_("Partly supported"),
    "not-supported": N_("Not supported"),
}


def decision_label(decision: str) -> str:
    return DECISION_LABELS.get(decision, decision)


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason)


# What the petitions service writes into a timeline step, in its own words.
APPEAL_REASON = "forwarded as an ordinary appeal"


def timeline_reason(reason: str) -> str:
    """A timeline step's reason in the visitor's language: the forwarding of a failed
    petition, or a rejection ("<reason code>: <the moderator's explanation>")."""
    if reason == APPEAL_REASON:
        return gettext("Forwarded as an ordinary appeal")
    code, separator, explanation = reason.partition(": ")
    if separator and code in REASON_LABELS:
        return f"{gettext(REASON_LABELS[code])}: {explanation}"
    return reason


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


FILTERS = {
    "format_date": format_date,
    "merge_query": merge_query,
    "state_label": state_label,
    "reason_label": reason_label,
    "petition_state_label": petition_state_label,
    "decision_label": decision_label,
    "timeline_reason": timeline_reason,
}
