"""What any request may carry, checked at the door so that no database ever sees worse.

- An id, in a path or a field, is ASCII digits within the database's integer: anything
  else names nothing (404 in a path, 422 in a field), never an overflow in the driver.
- Text holds no NUL (PostgreSQL refuses it; SQLite would store it) and no lone UTF-16
  surrogate (no encoding can write one). Query strings and forms arrive percent-encoded,
  so only NUL can hide there; JSON can smuggle either in as a `\\u` escape.
- JSON nested deeper than the parser can follow is invalid JSON, not a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import request
from flask_babel import gettext
from webargs import core
from webargs.flaskparser import FlaskParser, abort
from werkzeug.routing import IntegerConverter

from .errors import Problem, ValidationFailed
from .fields import MAX_ID

# Escapes that decode to NUL or to a surrogate (paired ones are fine; they are rare).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


# What the document says of every text a request may carry (an ECMA-262 pattern): no
# NUL. Lone surrogates need no pattern: a JSON text is Unicode, and they are none.
STORABLE_TEXT = "^[^\\u0000]*$"


def storable_text_property(self, field, ret: dict, **kwargs) -> dict:
    """apispec attribute function: a request's text field, unless its own pattern, format
    or choices say more already, is documented as holding no NUL (it is refused)."""
    if ret.get("type") not in ("string", ["string", "null"]) or field.dump_only:
        return {}
    if any(key in ret for key in ("pattern", "format", "enum", "const")):
        return {}
    return {"pattern": STORABLE_TEXT}


def configured_property(config):
    """apispec attribute function: what a field accepts that the installation's settings
    decide (such as which countries' phone numbers), from its `openapi_properties(config)`."""

    def configured_field_property(self, field, **kwargs) -> dict:
        document = getattr(field, "openapi_properties", None)
        return document(config) if document is not None else {}

    return configured_field_property


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: ASCII digits (`\\d` would take any script's digits) up
    to the largest id the database holds."""

    regex = r"[0-9]+"

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _strings_in(value, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_in(key, path)
            yield from _strings_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings_in(item, f"{path}.{index}" if path else str(index))


def refuse_bad_text(data) -> None:
    """422 naming every field whose text holds a NUL or a lone surrogate."""
    errors = {
        path or "json": [gettext("The text holds a character that cannot be stored.")]
        for path, text in _strings_in(data)
        if _BAD_CHARACTER.search(text)
    }
    if errors:
        raise ValidationFailed(gettext("Some fields are missing or invalid."), errors=errors)


class ServiceParser(FlaskParser):
    """webargs' Flask parser, with the checks above on every JSON body."""

    def load_json(self, req, schema):
        try:
            data = super().load_json(req, schema)
        except RecursionError:
            abort(400, messages={"json": ["The JSON is nested too deeply."]})
        if data is not core.missing and _SUSPECT_ESCAPE.search(req.get_data(cache=True)):
            refuse_bad_text(data)
        return data


def refuse_nul_in_request() -> None:
    """Before any view: a NUL in the path, the query string or a form is refused."""
    if "\x00" in request.path or b"%00" in request.query_string:
        raise Problem(
            gettext("The address holds a character that cannot be stored."), slug="bad-request"
        )
    if request.mimetype in _FORM_TYPES:
        refuse_bad_text({name: "".join(values) for name, values in request.form.lists()})
