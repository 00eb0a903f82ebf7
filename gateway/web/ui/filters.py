"""Template filters: dates and phone numbers as people read them, labels, page links."""

from __future__ import annotations

from urllib.parse import urlencode

import phonenumbers
from flask_babel import gettext

from services.common.councils import council_name, council_zone
from services.common.dates import as_moment, format_date, format_datetime
from services.common.errors import N_


def local_input(value, council: str | None = None) -> str:
    """A time from the API as a datetime-local field shows it: the council's wall clock,
    to the minute."""
    if not value:
        return ""
    return as_moment(value).astimezone(council_zone(council)).strftime("%Y-%m-%dT%H:%M")


def zone_name(council: str | None) -> str:
    """The name of the zone whose clocks the council keeps (Europe/Kyiv), for a form's
    times typed on them."""
    return council_zone(council).key


def phone_number(e164: str | None) -> str:
    """A number as people write it (+380 67 123 4567); auth keeps and takes E.164."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


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


def petition_label(petition: dict) -> str:
    """Where a petition stands, as people read it: its state, unless it was taken down
    (its state then is the one it was taken down in)."""
    return N_("Taken down") if petition.get("hidden") else petition_state_label(petition["state"])


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
    "council_name": council_name,
    "format_date": format_date,
    "format_datetime": format_datetime,
    "local_input": local_input,
    "merge_query": merge_query,
    "phone_number": phone_number,
    "zone_name": zone_name,
    "state_label": state_label,
    "reason_label": reason_label,
    "petition_state_label": petition_state_label,
    "petition_label": petition_label,
    "decision_label": decision_label,
    "timeline_reason": timeline_reason,
}
