"""The OpenAPI document says what the code accepts: each pattern it gives a field takes
the values the field loads and no other (of those tried here), so a client built from the
document sends nothing that is then refused as invalid. tests/kit/test_generated_requests
checks the same over every operation with generated requests."""

from __future__ import annotations

import re

import pytest
from marshmallow import ValidationError
from sqlalchemy import func, select

from services.auth.accounts.schemas import PersonName, PhoneNumber
from services.common.fields import CalendarDate, EmailAddress, Moment, OneLine
from services.petitions.models import CouncilPolicy as PetitionPolicy
from services.polls.api import WebOrigin
from services.polls.models import CouncilPolicy as PollPolicy

pytestmark = pytest.mark.usefixtures("councils")


def document(client) -> dict:
    return client.get("/api/openapi.json").json


def schema_of(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def matches(pattern: str, value: str) -> bool:
    """As a JSON Schema validator reads the pattern (ECMA-262: `$` is the very end, where
    Python's would also stand before a last newline)."""
    return re.search(pattern.replace("$", r"\Z"), value) is not None


def loads(app, field, value) -> bool:
    with app.test_request_context("/"):
        try:
            field.deserialize(value)
        except ValidationError:
            return False
    return True


def agree(app, field, pattern: str, values) -> None:
    for value in values:
        said = matches(pattern, value)
        assert said == loads(app, field, value), (pattern, value)


def test_a_council_in_a_path_is_documented_as_a_council_address(client):
    paths = document(client)["paths"]
    for path, name in (
        ("/api/polls/councils/{council}/policy", "council"),
        ("/api/petitions/councils/{council}/policy", "council"),
        ("/api/auth/councils/{slug}", "slug"),
    ):
        operation = next(iter(op for key, op in paths[path].items() if key != "parameters"))
        parameters = [*paths[path].get("parameters", []), *operation.get("parameters", [])]
        (council,) = [p for p in parameters if p["name"] == name and p["in"] == "path"]
        pattern = council["schema"]["pattern"]
        assert matches(pattern, "kyiv") and matches(pattern, "bila-tserkva-2")
        for wrong in ("Kyiv", "kyiv-", "-kyiv", "kyiv/roles", "kyiv\n", "a" * 65, ""):
            assert not matches(pattern, wrong), wrong


def test_text_fields_are_documented_without_nul(client, petitions_app):
    new_petition = schema_of(document(client), "petitions.NewPetition")["properties"]
    pattern = new_petition["title"]["pattern"]
    assert re.search(pattern, "Ліхтарі на вулиці") and not re.search(pattern, "Ліхтарі\x00")


def test_an_email_address_is_documented_as_one_mail_can_reach(client, auth_app):
    said = schema_of(document(client), "auth.Login")["properties"]["email"]
    assert said["format"] == "idn-email" and said["maxLength"] == 320
    agree(
        auth_app,
        EmailAddress(),
        said["pattern"],
        [
            "olena@rada.example.ua",
            "q7|k=@kyiv.org",
            "олена@пошта.укр",
            "olena@mail.test",
            "olena@host.local",
            "olena@LOCALHOST",
            "olena@x.invalid",
            "olena@hidden.onion",
            "olena@in-addr.arpa",
            "olena@Mail.Test",
            "olena@localhost",
            "olena@rada",
            "olena@10.0.0.1",
        ],
    )


def test_a_phone_number_is_documented_as_the_mobiles_sms_reaches(client, auth_app):
    pattern = schema_of(document(client), "auth.Register")["properties"]["phone"]["pattern"]
    agree(
        auth_app,
        PhoneNumber(),
        pattern,
        ["+380501234567", "+380790123456", "+380441234567", "+36201234567", "+38050123456"],
    )
    assert not re.search(pattern, "CONTENT_LENGTH")


def test_the_phone_pattern_follows_the_countries_sms_goes_to(auth_app):
    field = PhoneNumber()
    ukraine = field.openapi_properties({"SMS_COUNTRIES": frozenset({"UA"})})["pattern"]
    both = field.openapi_properties({"SMS_COUNTRIES": frozenset({"UA", "HU"})})["pattern"]
    assert not re.search(ukraine, "+36201234567") and re.search(both, "+36201234567")
    assert re.search(both, "+380501234567")
    auth_app.config["SMS_COUNTRIES"] = frozenset({"UA", "HU"})
    try:
        assert loads(auth_app, field, "+36201234567")
    finally:
        auth_app.config["SMS_COUNTRIES"] = frozenset({"UA"})


def test_a_name_is_documented_as_one_line_of_text(client, auth_app):
    said = schema_of(document(client), "auth.Register")["properties"]["name"]
    agree(
        auth_app,
        PersonName(),
        said["pattern"],
        [
            "Олена Петренко",
            " Olena ",
            "Ö",
            "   ",
            "a\nb",
            "a\u2028b",
            "\u202eolena",
            "a\x85b",
            "\x00",
        ],
    )


def test_a_line_people_read_is_documented_as_one_line(client, petitions_app):
    """Titles, questions, council names, rejection reasons: no control characters and no
    bidirectional controls, which would make them read as other text."""
    schemas = document(client)["components"]["schemas"]
    lines = [
        schemas["petitions.NewPetition"]["properties"]["title"],
        schemas["petitions.EditPetition"]["properties"]["title"],
        schemas["petitions.Policy"]["properties"]["rejection_reasons"]["items"],
        schemas["polls.NewPoll"]["properties"]["question"],
        schemas["polls.EditPoll"]["properties"]["question"],
        schemas["auth.Council"]["properties"]["name"],
        schemas["auth.CouncilChanges"]["properties"]["name"],
    ]
    for said in lines:
        agree(
            petitions_app,
            OneLine(),
            said["pattern"],
            [
                "Ліхтарі на вулиці",
                " Ліхтарі ",
                "שלום עולם",
                "Bidi \u202etxt.exe\u202c",
                "\u2066Ліхтарі\u2069",
                "\u202aa\u202b",
                "a\nb",
                "a\tb",
                "a\u2028b",
                "a\x85b",
                "a\x7f",
                "\x00",
            ],
        )


def test_times_and_days_are_documented_within_their_years(client, petitions_app, polls_app):
    schemas = document(client)["components"]["schemas"]
    moment = schemas["polls.NewPoll"]["properties"]["closes_at"]["pattern"]
    agree(
        polls_app,
        Moment(),
        moment,
        [
            "2027-01-01T12:00:00+02:00",
            "2199-06-01T00:00:00Z",
            "1999-06-01T00:00:00Z",
            "2200-06-01T00:00:00Z",
            "2000-01-01T00:30:00+01:00",
            "2199-12-31T23:30:00-01:00",
        ],
    )
    day = schemas["petitions.Policy"]["properties"]["non_working_days"]["items"]["pattern"]
    agree(
        petitions_app, CalendarDate(), day, ["2027-01-07", "2199-12-31", "1999-12-31", "2200-01-01"]
    )


def test_widget_origins_are_documented_as_origins(client, polls_app):
    pattern = schema_of(document(client), "polls.Policy")["properties"]["widget_origins"]["items"]
    agree(
        polls_app,
        WebOrigin(),
        pattern["pattern"],
        [
            "https://rada.example.ua",
            "https://rada.example.ua/",
            "http://localhost:8080",
            "https://rada.example.ua:65535",
            "https://rada.example.ua:65536",
            "https://rada.example.ua:0",
            "https://rada.example.ua/path",
            "javascript:alert(1)",
            "https://" + "a" * 300,
        ],
    )


@pytest.mark.parametrize(
    ("service", "body", "model"),
    [
        ("polls", {"block_disposable_email": True}, PollPolicy),
        ("petitions", {"threshold": 50}, PetitionPolicy),
    ],
)
def test_a_policy_for_a_council_nobody_created_is_not_found(
    client, people, gateway, service, body, model
):
    """An address naming no council is a 404, as for reading its policy; an admin of a
    council that does not exist (a token naming it) stores nothing for it."""
    url = f"/api/{service}/councils/nowhere/policy"
    assert client.put(url, json=body).status_code == 401
    changed = client.put(url, json=body, headers=people.admin("nowhere"))
    assert changed.status_code == 404
    assert changed.json["type"] == "urn:viche:problem:not-found"
    assert client.get(url).status_code == 404
    app = gateway.apps[service]
    with app.app_context():
        session = app.extensions["sqlalchemy"].session
        assert session.scalar(select(func.count()).select_from(model)) == 0


def test_a_polls_answers_are_documented_unique_and_not_blank(client, people):
    options = schema_of(document(client), "polls.NewPoll")["properties"]["options"]
    assert options["uniqueItems"] is True
    pattern = options["items"]["pattern"]
    for answers in (
        ["Так", "Ні"],
        [" ", "Ні"],
        ["\u3000", "Ні"],
        ["\x1f", "Ні"],
        ["Так", "Так"],
        ["Так\u202e", "Ні"],
        ["Так", "Н\u2069і"],
        ["Так\u2028Ні", "Ні"],
    ):
        said = all(matches(pattern, a) for a in answers) and len(set(answers)) == len(answers)
        made = client.post(
            "/api/polls/polls",
            json={"council": "kyiv", "question": "Ставимо ліхтарі?", "options": answers},
            headers=people.admin(),
        )
        assert made.status_code == (201 if said else 422), answers
