"""Request fields more than one service reads the same way."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate

from .errors import N_

MAX_ID = 2**31 - 1  # PostgreSQL's integer, the type of every id column


# What email_validator asks of a domain beyond the syntax of idn-email, written for the
# document as a pattern over the whole address (ECMA-262 has no flag for case, hence the
# classes): a dot, a top-level label not all digits, and none of the domains no mail
# reaches (RFC 6761: .test, .local, .invalid...).
_SPECIAL_USE = "|".join(
    "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)
    for name in sorted(SPECIAL_USE_DOMAIN_NAMES)
)
DELIVERABLE_ADDRESS = rf"^(?=.*@[^@]*\.[^@.]*[^@.0-9][^@.]*$)(?!.*[.@](?:{_SPECIAL_USE})$)"


class EmailAddress(fields.String):
    """An email address, checked and normalised (lowercase) so one person has one key."""

    def __init__(self, **kwargs) -> None:
        # Addresses beyond ASCII are taken (and sent with SMTPUTF8): JSON Schema's idn-email.
        kwargs["metadata"] = {
            "format": "idn-email",
            "maxLength": 320,
            "pattern": DELIVERABLE_ADDRESS,
            "description": "an address mail can reach: none at a special-use domain"
            f" ({', '.join('.' + name for name in sorted(SPECIAL_USE_DOMAIN_NAMES))})",
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        if len(raw) > 320:
            raise ValidationError(str(_l("The email address is too long.")))
        try:
            return validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValidationError(str(_l("This is not a valid email address."))) from exc


# What a length counts, said in a request's language: a text's characters, a list's
# entries, or what a list field names them (its `entries`: "answers").
LENGTH_MESSAGES = {
    "characters": (
        N_("Too short: at least %(min)s characters."),
        N_("Too long: at most %(max)s characters."),
        N_("Give from %(min)s to %(max)s characters."),
    ),
    "entries": (
        N_("Give at least %(min)s entries."),
        N_("Give at most %(max)s entries."),
        N_("Give from %(min)s to %(max)s entries."),
    ),
    "answers": (
        N_("Give at least %(min)s answers."),
        N_("Give at most %(max)s answers."),
        N_("Give from %(min)s to %(max)s answers."),
    ),
}


class Length(validate.Length):
    """validate.Length whose messages say what they count (marshmallow's say "Length must
    be between 5 and 200." of a title and of a list of answers alike)."""

    def __init__(self, min=None, max=None, *, entries: str = "entries", **kwargs) -> None:
        super().__init__(min, max, **kwargs)
        self.entries = entries

    def _format_error(self, value, message: str) -> str:
        if self.error is not None or message == self.message_equal:
            return super()._format_error(value, message)
        unit = "characters" if isinstance(value, str) else self.entries
        shortest, longest, between = LENGTH_MESSAGES[unit]
        chosen = {self.message_min: shortest, self.message_max: longest}.get(message, between)
        return gettext(chosen, min=self.min, max=self.max)


# What a line of text shown to people may not hold: control characters (Cc), line or
# paragraph separators, and bidirectional embeddings, overrides and isolates, which make
# text read as other text (after U+202E, "txt.exe" shows as "exe.txt").
_OFF_THE_LINE = r"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_OFF_THE_LINE_CHARACTER = re.compile(f"[{_OFF_THE_LINE}]")
ONE_LINE = rf"^[^{_OFF_THE_LINE}]*$"
# The same, with something besides spaces on it.
ONE_LINE_NOT_BLANK = rf"^[^{_OFF_THE_LINE}]*[^\s{_OFF_THE_LINE}][^{_OFF_THE_LINE}]*$"


class OneLine(fields.String):
    """Text people see as one line, on a page or in an email: a title, a question, a
    name. A line break would let it write a paragraph of its own into what shows it.
    `strip` drops surrounding spaces first (what a name is stored as)."""

    refusal = N_("Write one line, without line breaks or invisible control characters.")

    def __init__(self, *, strip: bool = False, **kwargs) -> None:
        kwargs["metadata"] = {
            "pattern": ONE_LINE,
            "description": "one line of text, without control characters or bidirectional controls",
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)
        self.strip = strip

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.strip:
            text = text.strip()
        if _OFF_THE_LINE_CHARACTER.search(text):
            raise ValidationError(gettext(self.refusal))
        return text


def id_field(**kwargs) -> fields.Integer:
    """A field that names a row by its id."""
    return fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID, error=_l("No such id.")),
        **kwargs,
    )


def is_id(value) -> bool:
    return type(value) is int and 1 <= value <= MAX_ID


# The years 2000 to 2199, at the start of an RFC 3339 date or time, for the document;
# a time leaves out the first and last day, where its offset could move it out of them.
YEARS_2000_TO_2199 = "^2[01][0-9]{2}-"
MOMENTS_2000_TO_2199 = "^(?!2000-01-01T|2199-12-31T)2[01][0-9]{2}-"


class Moment(fields.AwareDateTime):
    """A point in time with its offset, taken as UTC; only years this suite can mean
    (converting 9999-12-31T23:59-14:00 to UTC would overflow the year)."""

    EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
    LATEST = datetime(2200, 1, 1, tzinfo=UTC)

    def __init__(self, *args, **kwargs) -> None:
        kwargs["metadata"] = {
            "pattern": MOMENTS_2000_TO_2199,
            "description": "a time with its offset, in the years 2000 to 2199 (UTC)",
            **kwargs.get("metadata", {}),
        }
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            moment = None
        if moment is None or not self.EARLIEST <= moment < self.LATEST:
            raise ValidationError(str(_l("Give a time between the years 2000 and 2199.")))
        return moment


class CalendarDate(fields.Date):
    """A day on a calendar ("2027-01-01"), kept as that text in a JSON column."""

    EARLIEST, LATEST = Moment.EARLIEST.date(), Moment.LATEST.date()

    def __init__(self, *args, **kwargs) -> None:
        kwargs["metadata"] = {
            "pattern": YEARS_2000_TO_2199,
            "description": "a day in the years 2000 to 2199",
            **kwargs.get("metadata", {}),
        }
        super().__init__(*args, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return value if isinstance(value, str) else super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not self.EARLIEST <= day < self.LATEST:
            raise ValidationError(str(_l("Give a date between the years 2000 and 2199.")))
        return day.isoformat()


class SmallObject(fields.Dict):
    """A JSON object of at most `max_entries` entries, documented as such
    (validate.Length would appear in the OpenAPI document as a string's maxLength)."""

    def __init__(self, *, max_entries: int, **kwargs) -> None:
        metadata = {**kwargs.pop("metadata", {}), "maxProperties": max_entries}
        super().__init__(metadata=metadata, **kwargs)
        self.max_entries = max_entries

    def _deserialize(self, value, attr, data, **kwargs):
        entries = super()._deserialize(value, attr, data, **kwargs)
        if len(entries) > self.max_entries:
            raise ValidationError(f"At most {self.max_entries} entries.")  # read by services
        return entries


class CheckOnlyQuery(Schema):
    """`?check_only=true` on a change: checked as if to be made (the caller's rights, the
    values), then not made. No transaction spans services: a form that changes several
    checks every part with each before it makes any."""

    check_only = fields.Boolean(
        load_default=False,
        metadata={
            "description": "only check the change: nothing is saved; the answer is as stored"
        },
    )
