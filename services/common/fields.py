"""Request fields more than one service reads the same way."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields


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
