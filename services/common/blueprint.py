"""The API blueprint every service declares its endpoints on."""

from __future__ import annotations

from functools import wraps

import flask_smorest

from .client import check_calling_service
from .inputs import ServiceParser
from .tokens import current_claims


def _check_token() -> None:
    current_claims(required=True)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, parsing each endpoint's arguments with one schema instance,
    after the caller has shown who they are.

    Handed a schema class, webargs builds a new instance for every request, and building
    one (marshmallow copies every declared field) costs more than parsing the body.
    Schemas hold no per-request state, so one instance serves every thread. Bodies go
    through the parser that refuses what no database should see (common.inputs).

    `token_required` and `service_required` sit below `arguments` on an endpoint, so
    they would run after the body is parsed: an anonymous caller would learn which
    fields are wrong before being told to sign in. Their check runs first instead.
    """

    ARGUMENTS_PARSER = ServiceParser()

    def arguments(self, schema, *args, **kwargs):
        if isinstance(schema, type):
            schema = schema()
        if not any(field.required for field in schema.fields.values()):
            # A body of optional fields may be left out: the document says so.
            kwargs.setdefault("required", False)
        parse_into = super().arguments(schema, *args, **kwargs)

        def decorator(view):
            parsing = parse_into(view)
            if getattr(view, "requires_token", False):
                check = _check_token
            elif getattr(view, "requires_service", False):
                check = check_calling_service
            else:
                return parsing

            @wraps(parsing)
            def checked_first(*view_args, **view_kwargs):
                check()
                return parsing(*view_args, **view_kwargs)

            return checked_first

        return decorator
