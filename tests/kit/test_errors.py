"""Every error is problem+json with a stable type, a detail, and no internals."""

from __future__ import annotations

import json

import pytest
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from services.common.app import accepts, create_service_app
from services.common.errors import Conflict
from services.polls import MIGRATIONS
from services.polls.models import db as polls_db

PROBLEM = "application/problem+json"


class ItemSchema(Schema):
    name = fields.String(required=True)
    size = fields.Integer(required=True)


def probe_app():
    """A service app with endpoints that fail in every way a real one can."""
    blp = Blueprint("probe", __name__)

    @blp.route("/items", methods=["POST"])
    @blp.arguments(ItemSchema)
    @blp.response(201, ItemSchema)
    def create_item(item):
        if item["name"] == "taken":
            raise Conflict("An item with this name exists.", name=item["name"])
        return item

    @blp.route("/form", methods=["POST"])
    @accepts("application/x-www-form-urlencoded")
    def form():
        return {"ok": True}

    @blp.route("/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    return create_service_app(
        "polls",
        db=polls_db,
        blueprints=[blp],
        config={"MAX_CONTENT_LENGTH": 1000, "PROPAGATE_EXCEPTIONS": False},
        migrations=MIGRATIONS,
        title="probe",
        description="probe",
    )


@pytest.fixture(scope="module")
def probe():
    return probe_app().test_client()


def problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = json.loads(response.get_data())
    assert body["type"] == f"urn:viche:problem:{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_unknown_path_is_404(probe):
    body = problem(probe.get("/nowhere"), 404, "not-found")
    assert body["instance"] == "/nowhere"


def test_wrong_method_is_405_with_allow(probe):
    response = probe.delete("/items")
    problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]


def test_validation_lists_field_errors(probe):
    body = problem(probe.post("/items", json={"size": "big"}), 422, "validation-failed")
    assert set(body["errors"]) == {"name", "size"}
    assert all(isinstance(m, str) for msgs in body["errors"].values() for m in msgs)


@pytest.mark.parametrize(
    "language, required, wrong_type",
    [
        ("en", "This field is required.", "This value has the wrong type."),
        ("uk", "Це поле обов'язкове.", "Значення має неправильний тип."),
        ("hu", "Ez a mező kötelező.", "Az érték típusa hibás."),
    ],
)
def test_field_errors_speak_the_requests_language(probe, language, required, wrong_type):
    answer = probe.post("/items", json={"size": "big"}, headers={"Accept-Language": language})
    body = problem(answer, 422, "validation-failed")
    assert body["errors"] == {"name": [required], "size": [wrong_type]}


def test_limits_in_field_errors_keep_their_numbers(client):
    answer = client.get("/api/polls/polls?limit=500&state=nope", headers={"Accept-Language": "uk"})
    assert answer.json["errors"] == {
        "limit": ["Вкажіть число від 1 до 100."],
        "state": ["Виберіть одне з: draft, scheduled, open, closed, archived."],
    }


def _within(field):
    """A field and the fields it holds (a list's entries, an object's keys and values)."""
    yield field
    for held in (getattr(field, name, None) for name in ("inner", "key_field", "value_field")):
        if held is not None:
            yield from _within(held)


def _schemas(base=Schema):
    for schema in base.__subclasses__():
        yield schema
        yield from _schemas(schema)


def test_every_length_a_service_checks_says_what_it_counts(embedded):
    """marshmallow's validate.Length says "Length must be between 1 and 200." of a name
    and of a list alike (heard as "Give from 1 to 200."): fields.Length says of what."""
    bare = sorted(
        f"{schema.__module__}.{schema.__name__}.{name}"
        for schema in set(_schemas())
        if schema.__module__.startswith(("services.", "gateway."))
        for name, declared in schema._declared_fields.items()
        for field in _within(declared)
        for check in field.validators
        if type(check) is validate.Length
    )
    assert not bare


def test_malformed_json_is_400(probe):
    response = probe.post("/items", data="{not json", content_type="application/json")
    problem(response, 400, "invalid-json")


def test_other_body_types_are_415(probe):
    response = probe.post("/items", data="name=x", content_type="text/plain")
    problem(response, 415, "unsupported-media-type")


def test_an_endpoint_may_accept_forms(probe):
    response = probe.post("/form", data={"a": "b"})
    assert response.status_code == 200
    problem(probe.post("/form", json={"a": "b"}), 415, "unsupported-media-type")


def test_oversized_body_is_413(probe):
    response = probe.post("/items", json={"name": "x" * 2000, "size": 1})
    problem(response, 413, "payload-too-large")


def test_domain_conflict_carries_extensions(probe):
    body = problem(probe.post("/items", json={"name": "taken", "size": 1}), 409, "conflict")
    assert body["detail"] == "An item with this name exists."
    assert body["name"] == "taken"


def test_500_says_nothing_of_the_fault(probe, caplog):
    response = probe.get("/boom")
    body = problem(response, 500, "internal-error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    logged = [r for r in caplog.records if r.name == "viche.errors"]
    assert logged and logged[0].request_id == body["request_id"]
    assert "hunter2" in logged[0].exc_text


def test_success_is_untouched(probe):
    response = probe.post("/items", json={"name": "a", "size": 2})
    assert response.status_code == 201
    assert response.json == {"name": "a", "size": 2}
