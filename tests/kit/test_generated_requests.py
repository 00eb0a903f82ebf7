"""Every operation of the merged OpenAPI document, fed requests generated from it, valid
and invalid (schemathesis, driving hypothesis): none is answered with a 5xx, every
answer has a status, content type and body the document gives, and no request the
document calls valid is refused as invalid (the document says what the code accepts).
A bounded run, the same each time, for the suite; the `schemathesis` command pointed at
a running installation does a long one. Both read schemathesis.toml."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.auth.helpers import confirmed_resident
from tests.support.tokens import bearer, make_token

EXAMPLES_PER_OPERATION = 6
COUNCIL = "kyiv"
CONFIG = Path(__file__).parents[2] / "schemathesis.toml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Refusals of a well-formed request that no document can foresee, as they rest on what
# exists or on a rule between fields rather than on a field's shape. Each is still a 4xx
# problem that says what is wrong, and the document says it in words; the shapes of the
# fields are checked against the code in tests/kit/test_documented_inputs.py.
ABOUT_WHAT_EXISTS = {
    "invalid-link",  # a link the server never issued
    "wrong-code",  # a code it never sent
    "unknown-council",  # a council in a body that nobody created (in a path: a 404)
}
BEYOND_A_FIELDS_SHAPE = {
    "cursor",  # a page cursor the server never handed out
    "password",  # judged: not a common password, not the address or name
    "new_password",
    "max_choices",  # at most as many as the poll's answers
    "closes_at",  # after opens_at; not passed when the poll opens
    "choices",  # answers of this poll
    "reason",  # in the council's list of reasons
}


def _beyond_the_document(response) -> bool:
    if not response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        return False
    problem = response.json()
    kind = problem.get("type", "").rpartition(":")[2]
    if kind in ABOUT_WHAT_EXISTS:
        return True
    fields = set(problem.get("errors") or ())
    return kind == "validation-failed" and bool(fields) and fields <= BEYOND_A_FIELDS_SHAPE


def valid_requests_are_accepted(ctx, response, case):
    """schemathesis' positive_data_acceptance, with the statuses schemathesis.toml allows,
    save the refusals above."""
    if _beyond_the_document(response):
        return None
    return positive_data_acceptance(ctx, response, case)


def in_the_callers_council(case) -> None:
    """A generated council names none, and a request for no council stops there: valid
    requests name the one the callers live in, so that the rest of them is judged."""
    for part in (case.body, case.query):
        if isinstance(part, dict) and isinstance(part.get("council"), str):
            part["council"] = COUNCIL


CHECKS_FOR = {
    GenerationMode.POSITIVE: [*CHECKS, valid_requests_are_accepted],
    GenerationMode.NEGATIVE: CHECKS,
}


def callers(client, auth_app) -> dict[str, dict]:
    """Nobody, and a person with a confirmed account who lives in kyiv, moderates and
    administers it."""
    pair = confirmed_resident(client, auth_app)
    user_id = jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"]
    token = make_token(
        auth_app,
        user_id,
        roles={COUNCIL: ["moderator", "admin"]},
        email_hash="mailbox-fuzz",
        phone_hash="phone-fuzz",
    )
    return {"nobody": {}, "the council's own": bearer(token)}


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_no_generated_request_is_a_server_error_or_off_the_document(
    gateway, client, auth_app, councils, mode
):
    schema = schemathesis.openapi.from_wsgi(
        "/api/openapi.json", gateway, config=SchemathesisConfig.from_path(CONFIG)
    )
    people = callers(client, auth_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    checks = CHECKS_FOR[mode]
    assert len(operations) > 60  # the three services' and the gateway's, all of them

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def answered_within_the_document(case):
            if mode is GenerationMode.POSITIVE:
                in_the_callers_council(case)
            for headers in people.values():
                case.call_and_validate(headers=headers, checks=checks)

        try:
            answered_within_the_document()
        except Unsatisfiable:  # nothing in it can be made invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation.label
