"""The accounts API's contract: what comes in, normalised, and what goes out."""

from __future__ import annotations

import phonenumbers
from flask import current_app
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate

from services.common.config import SUPPORTED_LOCALES
from services.common.errors import N_
from services.common.fields import ONE_LINE_NOT_BLANK, EmailAddress, Length, OneLine
from services.common.passwords import MAX_LENGTH, MIN_DIFFERENT, MIN_LENGTH

from .passwords import password_problem, password_refusal


def new_password() -> fields.String:
    """A password being chosen. Its rules are checked by the domain (passwords.py), which
    says in the reader's language what is wrong; here they are documented, and its length
    is checked with the other fields (a form left empty hears of every field at once)."""
    return fields.String(
        required=True,
        load_only=True,
        validate=_long_enough,
        metadata={
            "minLength": MIN_LENGTH,
            "maxLength": MAX_LENGTH,
            "description": f"{MIN_LENGTH} to {MAX_LENGTH} characters, at least {MIN_DIFFERENT}"
            " different ones, neither a commonly used password nor the address or name",
        },
    )


def _long_enough(password: str) -> None:
    # Only the rules that need neither the address nor the name: the domain checks all.
    reason = password_problem(password)
    if reason in ("too-short", "too-long"):
        raise ValidationError(password_refusal(reason))


def given_password(description: str | None = None) -> fields.String:
    """The account's password, given to prove who asks (checked by the domain)."""
    metadata = {"description": description} if description else {}
    return fields.String(
        required=True, load_only=True, validate=Length(max=1000), metadata=metadata
    )


class PhoneNumber(fields.String):
    """A mobile number in E.164; national numbers are read as Ukrainian."""

    DEFAULT_REGION = "UA"

    def __init__(self, **kwargs) -> None:
        kwargs["metadata"] = {
            "description": "a mobile number that can receive SMS, in E.164 (+380501234567);"
            " a national number is read as Ukrainian",
            "example": "+380501234567",
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def openapi_properties(self, config) -> dict:
        """The document's pattern: a mobile number, in E.164, of a country this
        installation sends SMS to (VICHE_SMS_COUNTRIES), by libphonenumber's plans."""
        plans = []
        for region in sorted(config.get("SMS_COUNTRIES", ())):
            plan = phonenumbers.PhoneMetadata.metadata_for_region(region)
            if plan is not None and plan.mobile.national_number_pattern:
                plans.append(f"{plan.country_code}(?:{plan.mobile.national_number_pattern})")
        return {"pattern": f"^\\+(?:{'|'.join(plans)})$"} if plans else {}

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            number = phonenumbers.parse(raw, self.DEFAULT_REGION)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError(str(_l("This is not a valid phone number."))) from exc
        kind = phonenumbers.number_type(number)
        mobile = (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
        if not phonenumbers.is_valid_number(number) or kind not in mobile:
            raise ValidationError(str(_l("Give a mobile number that can receive SMS.")))
        if phonenumbers.region_code_for_number(number) not in current_app.config["SMS_COUNTRIES"]:
            raise ValidationError(str(_l("We cannot send SMS to numbers of this country.")))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class PersonName(OneLine):
    """A name as people see it on a page and in an email (one line: a line break would
    let it write a paragraph of its own into the messages that greet it)."""

    refusal = N_("A name is one line, without control characters.")

    def __init__(self, **kwargs) -> None:
        kwargs["metadata"] = {"pattern": ONE_LINE_NOT_BLANK, **kwargs.get("metadata", {})}
        super().__init__(strip=True, validate=Length(min=1, max=200), **kwargs)


class RegisterSchema(Schema):
    name = PersonName(required=True)
    email = EmailAddress(required=True)
    password = new_password()
    phone = PhoneNumber(required=True)
    locale = fields.String(validate=validate.OneOf(SUPPORTED_LOCALES))


class EmailOnlySchema(Schema):
    email = EmailAddress(required=True)


class TokenSchema(Schema):
    token = fields.String(required=True, validate=Length(max=2000))


class ConfirmEmailSchema(TokenSchema):
    password = given_password("the account's password: only its owner confirms")


class LoginSchema(Schema):
    email = EmailAddress(required=True)
    password = given_password()


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=Length(max=200))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})


class CodeSchema(Schema):
    # Refused in words a person can act on (lazy: said in the request's language).
    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{6}$", error=_l("The code is the six digits of the SMS.")),
    )


class NewPasswordSchema(TokenSchema):
    password = new_password()


class ChangePasswordSchema(Schema):
    current_password = given_password("the password in use: an access token alone changes nothing")
    new_password = new_password()


class AcceptedSchema(Schema):
    detail = fields.String(required=True)


class ProfileSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    email_verified = fields.Boolean(required=True)
    phone = fields.String(allow_none=True)
    phone_verified = fields.Boolean(required=True)
    pending_email = fields.String(allow_none=True)
    pending_phone = fields.String(allow_none=True)
    locale = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class ChangeEmailSchema(Schema):
    email = EmailAddress(required=True)
    password = given_password()


class ChangePhoneSchema(Schema):
    phone = PhoneNumber(required=True)
    password = given_password()


class ChangeNameSchema(Schema):
    name = PersonName(required=True)


class PasswordSchema(Schema):
    password = given_password()
