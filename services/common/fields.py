"""Request fields more than one service reads the same way."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate

MAX_ID = 2**31 - 1  # PostgreSQL's integer, the type of every id column


class EmailAddress(fields.String):
    """An email address, checked and normalised (lowercase) so one person has one key."""

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        if len(raw) > 320:
            raise ValidationError(str(_l("The email address is too long.")))
        try:
            return validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValidationError(str(_l("This is not a valid email address."))) from exc


def id_field(**kwargs) -> fields.Integer:
    """A field that names a row by its id."""
    return fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID, error=_l("No such id.")),
        **kwargs,
    )


def is_id(value) -> bool:
    return type(value) is int and 1 <= value <= MAX_ID
