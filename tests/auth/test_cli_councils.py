"""`viche auth create-council` checks a council as the API does."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import main as viche
from services.common.fields import OneLine


def create_council(*args: str):
    return CliRunner().invoke(viche, ["auth", "create-council", *args])


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("Київська громада\nСкиньте пароль тут", OneLine.refusal),
        ("Київська громада\u2028", OneLine.refusal),
        ("\u202eадаморг аксьвїиК", OneLine.refusal),  # reads backwards
        ("Київська громада\x1b[31m", OneLine.refusal),
        ("К" * 201, "Give from 1 to 200 characters."),
        ("", "Give from 1 to 200 characters."),
    ],
    ids=["newline", "line-separator", "bidi-override", "escape", "too-long", "empty"],
)
def test_a_name_the_api_would_refuse_is_refused(client, auth_app, name, refusal):
    refused = create_council("kyiv", name)
    assert refused.exit_code == 1
    assert refused.output == f"Error: council not created:\n  name: {refusal}\n"
    assert client.get("/api/auth/councils/kyiv").status_code == 404


def test_the_refusal_names_each_field_at_fault(client, auth_app):
    refused = create_council("k" * 65, "Київ\n", "--language", "xx")
    assert refused.exit_code == 1
    lines = refused.output.splitlines()
    assert lines[0] == "Error: council not created:"
    assert [line.split(":")[0] for line in lines[1:]] == ["  slug", "  name", "  default_language"]
    # What the schema cannot say, the domain says the same way (as in the API).
    refused = create_council("Kyiv!", "Київ", "--time-zone", "Europe/Atlantis")
    assert refused.output.splitlines()[1:] == [
        "  time_zone: Give a time zone such as Europe/Kyiv.",
        "  slug: Use lowercase letters, digits and hyphens.",
    ]
    assert client.get("/api/auth/councils").json["councils"] == []


def test_a_one_line_name_makes_a_council(client, auth_app):
    made = create_council("kyiv", "Київська міська територіальна громада")
    assert made.exit_code == 0, made.output
    assert client.get("/api/auth/councils/kyiv").json["name"] == (
        "Київська міська територіальна громада"
    )
    again = create_council("kyiv", "Київ")
    assert again.exit_code == 1 and "exists already" in again.output
