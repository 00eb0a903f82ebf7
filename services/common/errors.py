"""One error vocabulary: RFC 9457 problem+json from every service and the gateway.

Raise `Problem` (or a subclass) from domain or HTTP code; the handlers registered by
`init_errors` turn it, and every werkzeug HTTP error and validation failure, into the
same body shape. A 500 says nothing of the fault; the log, keyed by request id, does.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping

from flask import Flask, Response, g, has_request_context, request
from flask_babel import gettext
from gunicorn.http.errors import NoMoreData, ParseException
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:viche:problem:"

log = logging.getLogger("viche.errors")


def N_(message: str) -> str:
    """Mark a string for the catalogue without translating it yet."""
    return message


# slug -> (status, title). The slug is the stable part of `type`; clients switch on it.
PROBLEMS: dict[str, tuple[int, str]] = {
    "bad-request": (400, N_("Bad request")),
    "invalid-json": (400, N_("The request body is not valid JSON")),
    "unauthorized": (401, N_("Authentication required")),
    "invalid-token": (401, N_("The access token is not valid")),
    "forbidden": (403, N_("Not allowed")),
    "not-found": (404, N_("Not found")),
    "method-not-allowed": (405, N_("Method not allowed")),
    "not-acceptable": (406, N_("Not acceptable")),
    "conflict": (409, N_("Conflict")),
    "gone": (410, N_("Gone")),
    "precondition-failed": (412, N_("Precondition failed")),
    "payload-too-large": (413, N_("The request body is too large")),
    "uri-too-long": (414, N_("The address is too long")),
    "unsupported-media-type": (415, N_("Unsupported media type")),
    "validation-failed": (422, N_("The request has invalid fields")),
    "rate-limited": (429, N_("Too many requests")),
    "headers-too-large": (431, N_("The request headers are too large")),
    "internal-error": (500, N_("Internal error")),
    "bad-gateway": (502, N_("The service answered badly")),
    "service-unavailable": (503, N_("The service is unavailable")),
    "gateway-timeout": (504, N_("The service did not answer in time")),
    "not-ready": (503, N_("Not ready")),
}

_SLUG_FOR_STATUS = {}
for _slug, (_status, _title) in PROBLEMS.items():
    _SLUG_FOR_STATUS.setdefault(_status, _slug)


class Problem(Exception):
    """An error a client can act on. `slug` names it; `detail` says what went wrong.

    A subclass names its own kind of problem with class attributes `slug`, `status` and
    `title` (marked with N_ for the catalogue); the kit's common ones are in PROBLEMS.
    """

    slug = "bad-request"
    status: int | None = None
    title: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        slug: str | None = None,
        status: int | None = None,
        title: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions,
    ) -> None:
        self.slug = slug or self.slug
        default_status, default_title = PROBLEMS.get(self.slug, (400, N_("Bad request")))
        self.status = status or type(self).status or default_status
        self.title = title or type(self).title or default_title
        self.detail = detail
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})
        self.extensions = extensions
        super().__init__(detail or self.title)


class NotFound(Problem):
    slug = "not-found"


class Forbidden(Problem):
    slug = "forbidden"


class Conflict(Problem):
    slug = "conflict"


class Unauthorized(Problem):
    slug = "unauthorized"


class ValidationFailed(Problem):
    slug = "validation-failed"


def problem_for_status(status: int) -> tuple[str, str]:
    """The slug and (untranslated) title the suite answers a bare status code with."""
    slug = _SLUG_FOR_STATUS.get(status, "bad-request" if status < 500 else "internal-error")
    return slug, PROBLEMS[slug][1]


def problem_body(
    slug: str,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    extensions: Mapping | None = None,
) -> dict:
    """The JSON object of a problem; shared with the asynchronous gateway."""
    body: dict = {"type": TYPE_PREFIX + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = dict(errors)
    if extensions:
        body.update(extensions)
    return body


def problem_response(problem: Problem) -> Response:
    """Render a Problem in the request's language."""
    has_req = has_request_context()
    body = problem_body(
        problem.slug,
        problem.status,
        gettext(problem.title),
        problem.detail,
        instance=(request.script_root + request.path) if has_req else None,
        request_id=g.get("request_id") if has_req else None,
        errors=problem.errors,
        extensions=problem.extensions,
    )
    response = Response(
        json.dumps(body, ensure_ascii=False), status=problem.status, mimetype=PROBLEM_CONTENT_TYPE
    )
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


# marshmallow's own messages are English only: each is recognised here and said again
# through the catalogue, in the request's language. Lengths are said by fields.Length,
# which knows what it counts (characters or entries).
FIELD_MESSAGES = [
    (r"Missing data for required field\.", N_("This field is required.")),
    (r"Field may not be null\.", N_("This field cannot be empty.")),
    (r"Unknown field\.", N_("This field is not expected here.")),
    (
        r"Invalid input type\.|Invalid type\.|Not a valid (?:string|integer|number|boolean"
        r"|list|tuple|mapping type|utf-8 string)\.",
        N_("This value has the wrong type."),
    ),
    (r"Not a valid date\.", N_("Give a date as year-month-day, like 2027-01-01.")),
    (
        r"Not a valid (?:aware |naive )?(?:datetime|time)\.",
        N_("Give a date and time with its offset, like 2026-05-01T09:00:00+03:00."),
    ),
    (r"Number too large\.|Special numeric values .*", N_("This number cannot be taken.")),
    (
        r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.",
        N_("Give a number from %(min)s to %(max)s."),
    ),
    (r"Must be greater than or equal to (?P<min>\S+)\.", N_("Give a number of at least %(min)s.")),
    (r"Must be less than or equal to (?P<max>\S+)\.", N_("Give a number of at most %(max)s.")),
    (r"Must be one of: (?P<choices>.*)\.", N_("Choose one of: %(choices)s.")),
    (r"String does not match expected pattern\.", N_("This value is not in the expected form.")),
    (r"Invalid value\.|Invalid input\.", N_("This value is not accepted.")),
]
_FIELD_MESSAGES = [(re.compile(pattern), message) for pattern, message in FIELD_MESSAGES]


def _in_request_language(message: str) -> str:
    for pattern, translated in _FIELD_MESSAGES:
        found = pattern.fullmatch(message)
        if found:
            return gettext(translated, **found.groupdict())
    return message


def _flatten_field_errors(messages: Mapping, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests errors by location and field; clients want `field.path -> messages`."""
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flatten_field_errors(value, name))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            flat[name] = [_in_request_language(str(v)) for v in value]
        else:
            flat[name] = [_in_request_language(str(value))]
    return flat


def _from_http_exception(exc: HTTPException) -> Problem:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, Mapping) else None
    if status == 422 and messages:
        # Drop the location level ("json", "query") unless there are several.
        if len(messages) == 1:
            messages = next(iter(messages.values()))
        return ValidationFailed(
            gettext("Some fields are missing or invalid."),
            errors=_flatten_field_errors(messages),
        )
    if status == 400 and messages:
        return Problem(gettext("The request body is not valid JSON."), slug="invalid-json")
    slug = problem_for_status(status)[0]
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    detail = {
        404: gettext("There is nothing at this address."),
        405: gettext("This address does not accept that method."),
        413: gettext("The request body is larger than this service accepts."),
        415: gettext("Send the request body as application/json."),
    }.get(status)
    return Problem(detail, slug=slug, status=status, headers=headers)


def handle_problem(problem: Problem) -> Response:
    return problem_response(problem)


def handle_http_exception(exc: HTTPException) -> Response:
    return problem_response(_from_http_exception(exc))


def handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    log.exception("unhandled error", extra={"request_id": g.get("request_id")})
    return problem_response(
        Problem(
            gettext("Something went wrong on our side. Quote the request id if you report it."),
            slug="internal-error",
        )
    )


# What gunicorn raises into an app that reads the body: a chunk size that is not hex, a
# chunk without its CRLF, a trailer that does not parse, a body that ends before its
# last chunk. gunicorn parsed the request line and headers before calling the app, so
# inside it these come only from the body the client sent (gunicorn then closes the
# connection: where the next request would start is unknown).
UNREADABLE_BODY = (ParseException, NoMoreData)


def handle_unreadable_body(_exc: Exception) -> Response:
    return problem_response(
        Problem(
            gettext(
                "The request body could not be read: its chunked encoding is broken "
                "or it ended early."
            )
        )
    )


def handle_changed_meanwhile(_exc: StaleDataError) -> Response:
    """A row's version moved between reading and writing it: someone else changed it
    first, and nothing of this request was written (the session rolls back)."""
    return problem_response(
        Conflict(gettext("Someone changed this a moment ago. Reload and try again."))
    )


def init_errors(app: Flask) -> None:
    """Register the problem+json handlers; call after flask-smorest's `Api.init_app`."""
    app.register_error_handler(Problem, handle_problem)
    app.register_error_handler(StaleDataError, handle_changed_meanwhile)
    for unreadable in UNREADABLE_BODY:
        app.register_error_handler(unreadable, handle_unreadable_body)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
