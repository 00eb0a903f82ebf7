"""Every operation of the merged OpenAPI document, fed requests generated from it, valid
and invalid (schemathesis, driving hypothesis): none is answered with a 5xx, and every
answer has a status, content type and body the document gives. A bounded run, the same
each time, for the suite; the `schemathesis` command pointed at a running installation
does a long one."""

from __future__ import annotations

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.auth.helpers import confirmed_resident
from tests.support.tokens import bearer, make_token

EXAMPLES_PER_OPERATION = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def callers(client, auth_app) -> dict[str, dict]:
    """Nobody, and a person with a confirmed account who lives in kyiv, moderates and
    administers it."""
    pair = confirmed_resident(client, auth_app)
    user_id = jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"]
    token = make_token(
        auth_app,
        user_id,
        roles={"kyiv": ["moderator", "admin"]},
        email_hash="mailbox-fuzz",
        phone_hash="phone-fuzz",
    )
    return {"nobody": {}, "the council's own": bearer(token)}


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_no_generated_request_is_a_server_error_or_off_the_document(
    gateway, client, auth_app, councils, mode
):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", gateway)
    people = callers(client, auth_app)
    operations = [result.ok() for result in schema.get_all_operations()]
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
            for headers in people.values():
                case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            answered_within_the_document()
        except Unsatisfiable:  # nothing in it can be made invalid (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation.label
