"""Council settings and roles pages for admins; changing contacts and deleting an account."""

from __future__ import annotations

import pytest

from services.petitions.models import REJECTION_REASONS
from tests.auth.helpers import PASSWORD, login, sms_code
from tests.petitions.conftest import submitted_petition
from tests.web.test_pages import (
    EVERY_REASON,
    csrf,
    register_and_confirm,
    sign_in,
    signed_in_with_role,
)

pytestmark = pytest.mark.usefixtures("councils")


def test_an_admin_changes_the_councils_rules(client, auth_app):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    page = client.get("/councils/kyiv/settings?lang=uk")
    assert page.status_code == 200
    saved = client.post(
        "/councils/kyiv/settings?lang=uk",
        data={
            "csrf": csrf(page),
            "threshold": "500",
            "collection_days": "60",
            "sponsors_needed": "3",
            "signer_verification": "email",
            "on_failure": "appeal",
            "rejected_public": "on",
            "widget_origins": "https://rada.example.ua\n",
            "block_disposable_email": "on",
            "non_working_days": "2027-01-01\n\n 2026-12-25 \n",
            **EVERY_REASON,
        },
    )
    assert saved.status_code == 200 and 'role="status"' in saved.get_data(as_text=True)
    policy = client.get("/api/petitions/councils/kyiv/policy").json
    assert policy["threshold"] == 500 and policy["sponsors_needed"] == 3
    assert policy["allow_withdrawal"] is False and policy["rejected_public"] is True
    assert policy["non_working_days"] == ["2026-12-25", "2027-01-01"]
    assert "2026-12-25\n2027-01-01</textarea>" in saved.get_data(as_text=True)
    assert client.get("/api/polls/councils/kyiv/policy").json["widget_origins"] == [
        "https://rada.example.ua"
    ]
    bad = client.post(
        "/councils/kyiv/settings?lang=uk",
        data={"csrf": csrf(page), "threshold": "-5", "widget_origins": "javascript:alert(1)"},
    )
    assert bad.status_code == 422 and 'role="alert"' in bad.get_data(as_text=True)
    assert "Підписів потрібно" in bad.get_data(as_text=True)  # the field's label, not its key
    assert "threshold:" not in bad.get_data(as_text=True)
    bad = client.post(
        "/councils/kyiv/settings?lang=uk",
        data={"csrf": csrf(page), "non_working_days": "2027-01-01\n31.12.2026"},
    )
    assert bad.status_code == 422
    assert "Святкові" in bad.get_data(as_text=True)  # the field's label names it
    assert client.get("/api/petitions/councils/kyiv/policy").json["non_working_days"] == [
        "2026-12-25",
        "2027-01-01",
    ]


def test_digits_of_other_kinds_are_refused_not_crashed_on(client, auth_app):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    page = client.get("/councils/kyiv/settings")
    for threshold in ("²", "-²", "9" * 5000):
        saved = client.post(
            "/councils/kyiv/settings", data={"csrf": csrf(page), "threshold": threshold}
        )
        assert saved.status_code == 422, threshold
    page = client.get("/councils/kyiv/roles")
    for user_id, role in (("²", "moderator"), ("9" * 5000, "moderator"), ("3", "admin?x")):
        changed = client.post(
            "/councils/kyiv/roles/grant",
            data={"csrf": csrf(page), "user_id": user_id, "role": role},
        )
        assert changed.status_code == 422, (user_id, role)
    assert client.get("/councils/kyiv%3Fx/settings").status_code == 404


def test_a_moderator_cannot_change_the_rules_or_roles(client, auth_app):
    signed_in_with_role(client, auth_app, "moderator@example.org", "moderator")
    page = client.get("/councils/kyiv/settings")
    refused = client.post("/councils/kyiv/settings", data={"csrf": csrf(page), "threshold": "1"})
    assert refused.status_code == 403
    assert client.get("/councils/kyiv/roles").status_code == 403


def platform_admin(auth_app, email):
    """Make the account of `email` a platform admin (sign in afterwards to carry it)."""
    from services.auth.accounts.models import User
    from services.auth.councils.domain import grant_platform_admin
    from services.auth.models import db as auth_db

    with auth_app.test_request_context("/"):
        user = auth_db.session.query(User).filter_by(email=email).one()
        grant_platform_admin(auth_db.session, user.id)


def test_a_platform_admin_grants_and_revokes_by_account_number(client, auth_app):
    register_and_confirm(client, auth_app, "helper@example.org")
    helper_id = client.get("/api/auth/me", headers=_bearer(client, "helper@example.org")).json["id"]
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    platform_admin(auth_app, "admin@example.org")
    sign_in(client, "admin@example.org")
    page = client.get("/councils/kyiv/roles?lang=uk")
    token = csrf(page)
    granted = client.post(
        "/councils/kyiv/roles/grant",
        data={"csrf": token, "user_id": str(helper_id), "role": "moderator"},
    )
    assert granted.status_code == 303
    listed = client.get("/councils/kyiv/roles?lang=en").get_data(as_text=True)
    assert f"<td>{helper_id}</td>" in listed and "moderator" in listed
    assert '<p class="ok" role="status">The role is granted.</p>' in listed  # said once
    again = client.get("/councils/kyiv/roles?lang=en").text
    assert "The role is granted." not in again
    assert "<summary>Revoke</summary>" in again and "Yes, take the role away" in again
    revoked = client.post(
        "/councils/kyiv/roles/revoke",
        data={"csrf": token, "user_id": str(helper_id), "role": "moderator"},
    )
    assert revoked.status_code == 303
    assert "The role is taken away." in client.get(revoked.headers["Location"] + "?lang=en").text
    assert f"<td>{helper_id}</td>" not in client.get("/councils/kyiv/roles").get_data(as_text=True)
    nonsense = client.post(
        "/councils/kyiv/roles/grant", data={"csrf": token, "user_id": "x", "role": "admin"}
    )
    assert nonsense.status_code == 422


def _bearer(client, email):
    return {"Authorization": f"Bearer {login(client, email).json['access_token']}"}


def test_changing_the_phone_and_deleting_the_account(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/account?lang=uk")
    token = csrf(page)
    wrong = client.post("/account/phone", data={"csrf": token, "phone": "12", "password": PASSWORD})
    assert wrong.status_code == 422 and 'id="new_phone-error"' in wrong.get_data(as_text=True)
    changed = client.post(
        "/account/phone", data={"csrf": token, "phone": "067 765 4321", "password": PASSWORD}
    )
    assert changed.status_code == 200
    refused = client.post("/account/delete", data={"csrf": token, "password": "not it at all"})
    assert refused.status_code in (401, 403) and 'id="delete_password-error"' in refused.get_data(
        as_text=True
    )
    deleted = client.post("/account/delete", data={"csrf": token, "password": PASSWORD})
    assert deleted.status_code == 200
    assert login(client).status_code == 401


def test_an_address_waiting_to_replace_the_current_one_is_shown(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    token = csrf(client.get("/account?lang=en"))
    change = {"csrf": token, "email": "new.address@example.org", "password": PASSWORD}
    assert client.post("/account/email?lang=en", data=change).status_code in (200, 303)
    page = client.get("/account?lang=en").text
    assert 'id="email-pending"' in page and "new.address@example.org" in page


def test_asking_for_the_address_in_use_says_so_beside_the_field(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    token = csrf(client.get("/account?lang=en"))
    change = {"csrf": token, "email": "OLENA@example.org", "password": PASSWORD}
    same = client.post("/account/email?lang=en", data=change)
    assert same.status_code == 422
    assert "This is already your address." in _error_of(same.text, "new_email")
    assert "Check the new mailbox" not in same.text  # no false success
    assert 'id="email-pending"' not in client.get("/account?lang=en").text


def test_asking_for_the_verified_number_says_so_beside_the_field(client, auth_app):
    register_and_confirm(client, auth_app)
    sign_in(client)
    page = client.get("/account?lang=en")
    client.post("/account/phone/code?lang=en", data={"csrf": csrf(page)})
    code = {"csrf": csrf(page), "code": sms_code(auth_app)}
    assert client.post("/account/phone/verify", data=code).status_code == 303
    change = {"csrf": csrf(page), "phone": "050 123 45 67", "password": PASSWORD}
    same = client.post("/account/phone?lang=en", data=change)
    assert same.status_code == 422
    assert "This is already your number." in _error_of(same.text, "new_phone")
    assert "counts once you verify it" not in same.text


def _error_of(page: str, field: str) -> str:
    """The error shown beside a field of the page."""
    return page.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]


def test_the_settings_are_saved_all_together_or_not_at_all(client, auth_app):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    page = client.get("/councils/kyiv/settings?lang=en")
    before = client.get("/api/petitions/councils/kyiv/policy").json
    typed = {
        "csrf": csrf(page),
        "time_zone": "Europe/Istanbul",
        "threshold": "321",
        "collection_days": "2.5",
        "non_working_days": "2027-01-01\n31.12.2026",
        "widget_origins": "https://rada.example.ua/\nrada.example.ua",
        "rejected_public": "on",
        **EVERY_REASON,
    }
    refused = client.post("/councils/kyiv/settings?lang=en", data=typed)
    shown = refused.get_data(as_text=True)
    assert refused.status_code == 422
    # Nothing is saved, not even the parts that were right.
    assert client.get("/api/petitions/councils/kyiv/policy").json == before
    assert client.get("/api/polls/councils/kyiv/policy").json["widget_origins"] == []
    assert client.get("/api/auth/councils/kyiv").json["time_zone"] == "Europe/Kyiv"
    # What was typed is kept, and each error stands beside its field, naming the line.
    assert 'value="Europe/Istanbul"' in shown and 'value="321"' in shown
    assert "2027-01-01\n31.12.2026</textarea>" in shown
    assert 'id="rejected_public" name="rejected_public" checked' in shown
    assert "whole number" in _error_of(shown, "collection_days")
    assert "Line 2: " in _error_of(shown, "non_working_days")
    assert "Line 2: " in _error_of(shown, "widget_origins")
    assert "Line 1" not in _error_of(shown, "widget_origins")  # its slash is no fault
    assert 'aria-describedby="widget_origins-error" aria-invalid="true"' in shown
    assert 'id="threshold-error"' not in shown
    typed.update(
        collection_days="20",
        non_working_days="2027-01-01",
        widget_origins="https://rada.example.ua/",
    )
    saved = client.post("/councils/kyiv/settings?lang=en", data=typed)
    assert saved.status_code == 200 and 'role="status"' in saved.get_data(as_text=True)
    policy = client.get("/api/petitions/councils/kyiv/policy").json
    assert policy["threshold"] == 321 and policy["collection_days"] == 20
    assert client.get("/api/polls/councils/kyiv/policy").json["widget_origins"] == [
        "https://rada.example.ua"
    ]
    assert client.get("/api/auth/councils/kyiv").json["time_zone"] == "Europe/Istanbul"


def test_a_council_admin_is_offered_no_grant_by_account_number_and_refused_one(client, auth_app):
    register_and_confirm(client, auth_app, "helper@example.org")
    helper_id = client.get("/api/auth/me", headers=_bearer(client, "helper@example.org")).json["id"]
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    page = client.get("/councils/kyiv/roles?lang=en")
    assert "Invite by email" in page.text and 'name="user_id" inputmode' not in page.text
    forged = client.post(
        "/councils/kyiv/roles/grant?lang=en",
        data={"csrf": csrf(page), "user_id": str(helper_id), "role": "moderator"},
    )
    assert forged.status_code == 403 and "Invite people by email" in forged.text
    assert f"<td>{helper_id}</td>" not in client.get("/councils/kyiv/roles").text


def test_the_roles_page_says_what_an_account_number_is(client, auth_app):
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    platform_admin(auth_app, "admin@example.org")
    sign_in(client, "admin@example.org")
    page = client.get("/councils/kyiv/roles?lang=en")
    assert '<th scope="col">Name</th>' in page.get_data(as_text=True)
    assert "Your name" not in page.get_data(as_text=True)
    wrong = client.post(
        "/councils/kyiv/roles/grant?lang=en",
        data={"csrf": csrf(page), "user_id": "Olena", "role": "moderator"},
    )
    shown = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and 'value="Olena"' in shown
    assert "account number in digits" in _error_of(shown, "user_id")
    assert ">?<" not in shown
    assert (
        client.post(
            "/councils/kyiv/roles/nonsense", data={"csrf": csrf(page), "user_id": "3"}
        ).status_code
        == 404
    )


def test_an_admin_chooses_the_rejection_reasons_and_who_may_file(client, auth_app, people):
    waiting = submitted_petition(client, people)
    signed_in_with_role(client, auth_app, "admin@example.org", "admin")
    form = client.get("/councils/kyiv/settings?lang=en")
    page = form.get_data(as_text=True)
    for reason in REJECTION_REASONS:
        assert f'id="reason_{reason}" name="reason_{reason}" checked' in page
    assert ">Outside the council's competence</label>" in page  # labelled, not by its key
    assert '<select id="author_verification"' in page
    own = "Не стосується громади"
    kept = {key: value for key, value in EVERY_REASON.items() if key != "reason_offensive"}
    body = {"csrf": csrf(form), "author_verification": "email", **kept}
    saved = client.post(
        "/councils/kyiv/settings?lang=en", data={**body, "rejection_reasons": f"{own}\n\n{own}\n"}
    )
    assert saved.status_code == 200 and 'role="status"' in saved.get_data(as_text=True)
    policy = client.get("/api/petitions/councils/kyiv/policy").json
    assert policy["author_verification"] == "email"
    assert policy["rejection_reasons"] == [own, *(r for r in REJECTION_REASONS if r != "offensive")]
    shown = client.get("/councils/kyiv/settings?lang=en").get_data(as_text=True)
    assert f">{own}</textarea>" in shown
    assert 'name="reason_offensive" >' in shown or 'name="reason_offensive">' in shown
    assert '<option value="email" selected>' in shown.split('id="author_verification"')[1]
    # The council's own reason is offered when rejecting; the one it dropped is not.
    queue = client.get("/councils/kyiv/moderation?lang=en").get_data(as_text=True)
    offered = queue.split(f'id="reason-{waiting}"', 1)[1].split("</select>", 1)[0]
    assert f'<option value="{own}"' in offered and 'value="offensive"' not in offered

    # None at all, or a line too long: refused beside the field, nothing saved.
    empty = client.post("/councils/kyiv/settings?lang=en", data={"csrf": body["csrf"]})
    assert empty.status_code == 422 and _error_of(empty.get_data(as_text=True), "rejection_reasons")
    long = client.post(
        "/councils/kyiv/settings?lang=en",
        data={**body, "rejection_reasons": f"{own}\n{'д' * 33}"},
    )
    assert long.status_code == 422
    assert "Line 2: " in _error_of(long.get_data(as_text=True), "rejection_reasons")
    assert client.get("/api/petitions/councils/kyiv/policy").json == policy
