"""Roles by invitation: an admin invites an address, the account of that confirmed
address accepts, and only then is the role granted, as the admin's act."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update
from werkzeug.test import Client

from gateway.cli import main as viche
from services.auth.accounts.links import link_serializer
from services.auth.accounts.settings import Settings
from services.auth.councils.invitations import INVITATIONS_PER_ADMIN_PER_HOUR
from services.auth.councils.models import CouncilRole, Invitation, RoleChange
from services.auth.models import db
from tests.auth.helpers import (
    PASSWORD,
    bearer,
    confirmed_resident,
    link_token,
    login,
    messages,
    register,
)
from tests.auth.test_councils import claims, councils, user_id  # noqa: F401 - a fixture
from tests.conftest import TEST_DB
from tests.support.concurrency import released_together

INVITE = "/api/auth/councils/kyiv/invitations"


@pytest.fixture
def admin(client, auth_app, councils):  # noqa: F811 - the fixture imported above
    confirmed_resident(client, auth_app, "admin@kyiv.example")
    result = CliRunner().invoke(
        viche, ["auth", "grant-role", "kyiv", "admin@kyiv.example", "admin"]
    )
    assert result.exit_code == 0, result.output
    return login(client, "admin@kyiv.example").json


def invited(client, auth_app, admin, email="olena@example.org", role="moderator") -> str:
    """Invite `email`; the token of the link it was mailed."""
    answer = client.post(INVITE, json={"email": email, "role": role}, headers=bearer(admin))
    assert answer.status_code == 202, answer.json
    return link_token(messages(auth_app, email, "role_invitation")[-1].text_body)


def accept(client, token, pair):
    return client.post(f"/api/auth/invitations/{token}/accept", headers=bearer(pair))


def test_the_invited_account_sees_and_accepts_and_the_role_is_the_admins_act(
    client, auth_app, admin
):
    olena = confirmed_resident(client, auth_app)
    token = invited(client, auth_app, admin)
    mail = messages(auth_app, "olena@example.org", "role_invitation")[-1]
    assert mail.locale == "uk" and "Київська громада" in mail.subject  # the council's language
    assert "Модератор" in mail.text_body and "/invitation?token=" in mail.text_body
    assert claims(client, "olena@example.org")["roles"] == {}  # nothing before accepting
    offered = client.get(f"/api/auth/invitations/{token}", headers=bearer(olena))
    assert offered.status_code == 200
    assert offered.json["council"] == "kyiv" and offered.json["role"] == "moderator"
    assert offered.json["council_name"] == "Київська громада"
    assert claims(client, "olena@example.org")["roles"] == {}  # looking accepts nothing
    accepted = accept(client, token, olena)
    assert accepted.status_code == 200 and accepted.json["role"] == "moderator"
    assert claims(client, "olena@example.org")["roles"] == {"kyiv": ["moderator"]}
    with auth_app.app_context():
        change = db.session.scalars(select(RoleChange).order_by(RoleChange.id.desc())).first()
        held = db.session.scalar(select(CouncilRole).where(CouncilRole.role == "moderator"))
    assert (change.user_id, change.by_user_id) == (user_id(olena), user_id(admin))
    assert held.granted_by == user_id(admin)
    pending = client.get(INVITE, headers=bearer(admin)).json["invitations"]
    assert pending == []
    reused = accept(client, token, olena)  # the link works once
    assert reused.status_code == 400 and reused.json["type"].endswith(":invalid-link")


def test_the_answer_is_the_same_with_or_without_an_account(client, auth_app, admin):
    confirmed_resident(client, auth_app)
    answers = [
        client.post(INVITE, json={"email": email, "role": "admin"}, headers=bearer(admin))
        for email in ("olena@example.org", "nobody@example.org")
    ]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json == answers[1].json
    first, second = (
        messages(auth_app, email, "role_invitation")[0]
        for email in ("olena@example.org", "nobody@example.org")
    )
    assert first.subject == second.subject and first.user_id is None is second.user_id
    assert "Олена" not in first.text_body  # nothing of the account is told
    # Whoever registers with the address later accepts it.
    nobody = confirmed_resident(client, auth_app, "nobody@example.org")
    token = link_token(second.text_body)
    assert accept(client, token, nobody).status_code == 200


def test_another_account_cannot_use_the_link(client, auth_app, admin):
    confirmed_resident(client, auth_app)
    mallory = confirmed_resident(client, auth_app, "mallory@example.org")
    token = invited(client, auth_app, admin)
    for answer in (
        client.get(f"/api/auth/invitations/{token}", headers=bearer(mallory)),
        accept(client, token, mallory),
        accept(client, token, admin),  # the admin who sent it, too
    ):
        assert answer.status_code == 403 and answer.json["type"].endswith(":forbidden")
    assert claims(client, "mallory@example.org")["roles"] == {}
    assert client.post(f"/api/auth/invitations/{token}/accept").status_code == 401
    # The link still works for its address.
    assert accept(client, token, login(client).json).status_code == 200


def test_an_account_whose_address_is_not_confirmed_cannot_accept(client, auth_app, admin):
    assert register(client).status_code == 202
    unconfirmed = login(client).json
    token = invited(client, auth_app, admin)
    refused = accept(client, token, unconfirmed)
    assert refused.status_code == 403 and "Confirm your email address" in refused.json["detail"]
    with auth_app.app_context():
        assert (
            db.session.scalar(select(CouncilRole.id).where(CouncilRole.role == "moderator")) is None
        )


def test_an_expired_or_withdrawn_invitation_grants_nothing(client, auth_app, admin):
    olena = confirmed_resident(client, auth_app)
    expired = invited(client, auth_app, admin)
    with auth_app.app_context():
        for invitation in db.session.scalars(select(Invitation)):
            invitation.expires_at -= timedelta(days=8)
        db.session.commit()
    refused = accept(client, expired, olena)
    assert refused.status_code == 400 and "expired" in refused.json["detail"]
    assert client.get(INVITE, headers=bearer(admin)).json["invitations"] == []

    withdrawn = invited(client, auth_app, admin, role="admin")
    (pending,) = client.get(INVITE, headers=bearer(admin)).json["invitations"]
    assert pending["email"] == "olena@example.org" and pending["role"] == "admin"
    assert pending["invited_by"] == user_id(admin)
    gone = client.delete(f"{INVITE}/{pending['id']}", headers=bearer(admin))
    assert gone.status_code == 204
    refused = accept(client, withdrawn, olena)
    assert refused.status_code == 400 and refused.json["type"].endswith(":invalid-link")
    assert claims(client, "olena@example.org")["roles"] == {}
    assert client.delete(f"{INVITE}/999999", headers=bearer(admin)).status_code == 404


def test_a_forged_or_foreign_link_is_refused(client, auth_app, admin):
    olena = confirmed_resident(client, auth_app)
    token = invited(client, auth_app, admin)
    confirm_link = link_token(
        messages(auth_app, "olena@example.org", "confirm_email")[-1].text_body
    )
    for bad in (token[:-2] + "xx", confirm_link, "nonsense", "a" * 600):
        refused = accept(client, bad, olena)
        assert refused.status_code == 400 and refused.json["type"].endswith(":invalid-link")


def test_a_second_invitation_replaces_the_pending_one(client, auth_app, admin):
    olena = confirmed_resident(client, auth_app)
    first = invited(client, auth_app, admin)
    second = invited(client, auth_app, admin)
    assert len(client.get(INVITE, headers=bearer(admin)).json["invitations"]) == 1
    assert accept(client, first, olena).status_code == 400
    assert accept(client, second, olena).status_code == 200


def test_an_invitation_lapses_with_its_admins_power(client, auth_app, admin):
    olena = confirmed_resident(client, auth_app)
    token = invited(client, auth_app, admin, role="admin")
    result = CliRunner().invoke(
        viche, ["auth", "revoke-role", "kyiv", "admin@kyiv.example", "admin"]
    )
    assert result.exit_code == 0, result.output
    refused = accept(client, token, olena)
    assert refused.status_code == 400 and "no longer administers" in refused.json["detail"]
    assert claims(client, "olena@example.org")["roles"] == {}


def test_only_the_councils_admins_invite_list_and_withdraw(client, auth_app, admin):
    token = invited(client, auth_app, admin)
    (pending,) = client.get(INVITE, headers=bearer(admin)).json["invitations"]
    confirmed_resident(client, auth_app, "other@oliivka.example")
    CliRunner().invoke(viche, ["auth", "grant-role", "oliivka", "other@oliivka.example", "admin"])
    CliRunner().invoke(viche, ["auth", "grant-role", "kyiv", "other@oliivka.example", "moderator"])
    other = login(client, "other@oliivka.example").json  # oliivka's admin, kyiv's moderator
    resident = confirmed_resident(client, auth_app)
    body = {"email": "friend@example.org", "role": "admin"}
    for actor in (other, resident):
        assert client.post(INVITE, json=body, headers=bearer(actor)).status_code == 403
        assert client.get(INVITE, headers=bearer(actor)).status_code == 403
        assert client.delete(f"{INVITE}/{pending['id']}", headers=bearer(actor)).status_code == 403
    # Oliivka's admin cannot reach kyiv's invitation through their own council either.
    foreign = f"/api/auth/councils/oliivka/invitations/{pending['id']}"
    assert client.delete(foreign, headers=bearer(other)).status_code == 404
    assert client.post(INVITE, json=body).status_code == 401
    assert messages(auth_app, "friend@example.org") == []
    assert accept(client, token, resident).status_code == 200  # still pending, still works


def test_bad_invitations_are_refused_and_send_nothing(client, auth_app, admin):
    for body in (
        {"email": "not an address", "role": "moderator"},
        {"email": "olena@example.org", "role": "king"},
        {"email": "olena@example.org"},
    ):
        refused = client.post(INVITE, json=body, headers=bearer(admin))
        assert refused.status_code == 422 and refused.json["errors"], body
    missing = client.post(
        "/api/auth/councils/atlantis/invitations",
        json={"email": "olena@example.org", "role": "moderator"},
        headers=bearer(admin),
    )
    assert missing.status_code == 404
    assert messages(auth_app, "olena@example.org") == []


def test_an_admin_sends_only_so_many_invitations_an_hour(client, auth_app, admin):
    for n in range(INVITATIONS_PER_ADMIN_PER_HOUR):
        body = {"email": f"person{n}@example.org", "role": "moderator"}
        assert client.post(INVITE, json=body, headers=bearer(admin)).status_code == 202
    body = {"email": "one-more@example.org", "role": "moderator"}
    refused = client.post(INVITE, json=body, headers=bearer(admin))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert messages(auth_app, "one-more@example.org") == []
    with auth_app.app_context():
        for invitation in db.session.scalars(select(Invitation)):
            invitation.created_at -= timedelta(hours=1)
        db.session.commit()
    assert client.post(INVITE, json=body, headers=bearer(admin)).status_code == 202


def test_settled_invitations_and_their_addresses_are_deleted_a_day_on(client, auth_app, admin):
    """The addresses admins typed do not stay in auth for ever: the delivery worker's
    sweep deletes every invitation accepted, withdrawn or expired a day before; pending
    ones, and those settled within the day, stay."""
    from services.auth.messaging.worker import DeliveryWorker
    from services.common.timeutil import utcnow

    olena = confirmed_resident(client, auth_app)
    assert accept(client, invited(client, auth_app, admin), olena).status_code == 200
    invited(client, auth_app, admin, "withdrawn@example.org")
    invited(client, auth_app, admin, "expired@example.org")
    invited(client, auth_app, admin, "pending@example.org")
    invited(client, auth_app, admin, "recent@example.org")
    pending = client.get(INVITE, headers=bearer(admin)).json["invitations"]
    ids = {row["email"]: row["id"] for row in pending}
    for email in ("withdrawn@example.org", "recent@example.org"):
        gone = client.delete(f"{INVITE}/{ids[email]}", headers=bearer(admin))
        assert gone.status_code == 204
    day_ago = utcnow() - timedelta(days=1, minutes=1)
    with auth_app.app_context():
        for row in db.session.scalars(select(Invitation)):
            if row.email == "olena@example.org":
                row.accepted_at = day_ago
            elif row.email == "withdrawn@example.org":
                row.withdrawn_at = day_ago
            elif row.email == "expired@example.org":
                row.expires_at = day_ago
        db.session.commit()
    DeliveryWorker(auth_app).run_once(sweep_too=True)  # as the worker does every 30 passes
    with auth_app.app_context():
        left = sorted(db.session.scalars(select(Invitation.email)))
        held = db.session.scalar(select(CouncilRole.id).where(CouncilRole.role == "moderator"))
    assert left == ["pending@example.org", "recent@example.org"]
    assert held is not None  # the role stays, with who granted it
    assert client.get(INVITE, headers=bearer(admin)).json["invitations"][0]["email"] == (
        "pending@example.org"
    )


def test_the_invited_address_and_the_accounts_are_compared_as_one_spelling(client, auth_app, admin):
    """Case and an internationalised domain's two spellings name one address: the invitee
    accepts whichever way either was typed. A +tag is another address (it may be another
    person's at some providers): its account cannot take an invitation of the plain one,
    nor the plain account one sent to the tagged address."""
    assert register(client, "Olena@Bücher.example").status_code == 202
    mailed = messages(auth_app, "olena@bücher.example", "confirm_email")[-1].text_body
    confirm = {"token": link_token(mailed), "password": PASSWORD}
    assert client.post("/api/auth/email/confirm", json=confirm).status_code == 200
    olena = login(client, "OLENA@bücher.example").json
    tagged = confirmed_resident(client, auth_app, "olena+roles@bücher.example")
    answer = client.post(
        INVITE,
        json={"email": "OLENA@xn--bcher-kva.example", "role": "moderator"},
        headers=bearer(admin),
    )
    assert answer.status_code == 202
    token = link_token(messages(auth_app, "olena@bücher.example", "role_invitation")[-1].text_body)
    assert accept(client, token, tagged).status_code == 403
    assert accept(client, token, olena).status_code == 200
    other = invited(client, auth_app, admin, "olena+roles@bücher.example", "admin")
    assert accept(client, other, olena).status_code == 403
    assert claims(client, "olena@bücher.example")["roles"] == {"kyiv": ["moderator"]}


def test_another_account_with_the_link_learns_nothing_of_what_became_of_it(client, auth_app, admin):
    """A forwarded or leaked link tells another account only that it is not theirs: not
    whether it was accepted (who holds the role is the council's to tell), withdrawn or
    expired."""
    olena = confirmed_resident(client, auth_app)
    mallory = confirmed_resident(client, auth_app, "mallory@example.org")
    accepted_token = invited(client, auth_app, admin)
    assert accept(client, accepted_token, olena).status_code == 200
    withdrawn_token = invited(client, auth_app, admin, "taras@example.org")
    pending = client.get(INVITE, headers=bearer(admin)).json["invitations"]
    client.delete(f"{INVITE}/{pending[0]['id']}", headers=bearer(admin))
    expired_token = invited(client, auth_app, admin, "ivan@example.org", "admin")
    with auth_app.app_context():
        for row in db.session.scalars(
            select(Invitation).where(Invitation.email == "ivan@example.org")
        ):
            row.expires_at -= timedelta(days=8)
        db.session.commit()
    answers = {
        client.get(f"/api/auth/invitations/{token}", headers=bearer(mallory)).json["detail"]
        for token in (accepted_token, withdrawn_token, expired_token)
    }
    assert len(answers) == 1 and "another address" in answers.pop()


def _what_the_link_says(token: str):
    """The link's data as anyone holding it reads it: signed, not encrypted."""
    readable, data = URLSafeTimedSerializer("not the key").loads_unsafe(token)
    assert readable is False  # the signature is not ours to check, the data still shows
    return data


def _old_link(auth_app, invitation_id: int) -> str:
    """A link as they were mailed before migration 0018: naming the invitation's id."""
    settings = Settings.from_config(auth_app.config)
    return link_serializer(settings, "invitation").dumps({"i": invitation_id})


def _grants(auth_app, email="olena@example.org") -> list[RoleChange]:
    from services.auth.accounts.models import User

    with auth_app.app_context():
        found = db.session.scalars(
            select(RoleChange)
            .join(User, User.id == RoleChange.user_id)
            .where(User.email == email, RoleChange.action == "grant")
            .order_by(RoleChange.id)
        ).all()
        for change in found:
            db.session.expunge(change)
        return found


def _invitations(auth_app, email="olena@example.org") -> list[Invitation]:
    with auth_app.app_context():
        found = db.session.scalars(
            select(Invitation).where(Invitation.email == email).order_by(Invitation.id)
        ).all()
        for invitation in found:
            db.session.expunge(invitation)
        return found


def test_the_link_names_the_invitation_by_a_random_reference_not_its_number(
    client, auth_app, admin
):
    """Whoever holds a link reads its data: it must not count the installation's
    invitations. A link carries the invitation's random reference alone, and two links
    in a row carry nothing alike."""
    olena = confirmed_resident(client, auth_app)
    first = invited(client, auth_app, admin, "taras@example.org")
    second = invited(client, auth_app, admin)
    said = [_what_the_link_says(token) for token in (first, second)]
    assert [set(data) for data in said] == [{"r"}, {"r"}]
    references = [data["r"] for data in said]
    with auth_app.app_context():
        rows = db.session.execute(
            select(Invitation.id, Invitation.reference).order_by(Invitation.id)
        ).all()
    assert [reference for _, reference in rows] == references
    assert references[0] != references[1] and min(len(r) for r in references) >= 22
    assert accept(client, second, olena).status_code == 200


def test_a_link_mailed_before_references_works_until_it_expires(client, auth_app, admin):
    """Invitations made before migration 0018 have no reference (NULL) and their links
    name the id: those links keep working, for their week, and only for them."""
    olena = confirmed_resident(client, auth_app)
    invited(client, auth_app, admin)
    invited(client, auth_app, admin, role="admin")
    with auth_app.app_context():  # as the migration leaves the invitations made before it
        db.session.execute(update(Invitation).values(reference=None))
        db.session.commit()
    moderator, admin_role = (row.id for row in _invitations(auth_app))
    old = _old_link(auth_app, moderator)
    offered = client.get(f"/api/auth/invitations/{old}", headers=bearer(olena))
    assert offered.status_code == 200 and offered.json["role"] == "moderator"
    assert accept(client, old, olena).status_code == 200
    assert claims(client, "olena@example.org")["roles"] == {"kyiv": ["moderator"]}
    assert accept(client, old, olena).status_code == 400  # once, as any link

    with auth_app.app_context():
        db.session.get(Invitation, admin_role).expires_at -= timedelta(days=8)
        db.session.commit()
    expired = accept(client, _old_link(auth_app, admin_role), olena)
    assert expired.status_code == 400 and "expired" in expired.json["detail"]


def test_an_old_link_cannot_name_an_invitation_made_since(client, auth_app, admin):
    """An id is all an old link names, and SQLite gives a new row the id of one the
    sweep deleted: an invitation with a reference is reached by its reference only,
    whatever account holds the old link."""
    olena = confirmed_resident(client, auth_app)
    token = invited(client, auth_app, admin)
    (invitation,) = _invitations(auth_app)
    refused = accept(client, _old_link(auth_app, invitation.id), olena)
    assert refused.status_code == 400 and refused.json["type"].endswith(":invalid-link")
    assert "withdrawn" in refused.json["detail"]
    assert claims(client, "olena@example.org")["roles"] == {}
    for forged in ({"r": 1}, {"r": None}, {"i": True}, {"i": str(invitation.id)}, {}):
        settings = Settings.from_config(auth_app.config)
        mangled = link_serializer(settings, "invitation").dumps(forged)
        assert accept(client, mangled, olena).status_code == 400, forged
    assert accept(client, token, olena).status_code == 200  # its own link still works


@pytest.mark.parametrize("by", ["cli", "platform-admin"])
def test_a_role_given_directly_withdraws_the_pending_invitation_to_it(client, auth_app, admin, by):
    """A platform admin or the operator grants the role that an invitation of the
    account's confirmed address offers: the invitation has nothing left to offer and
    leaves the pending list, as withdrawn (the person accepted nothing; the grant is
    the granter's, RoleChange says whose). Another role's invitation, and another
    address's, stay."""
    olena = confirmed_resident(client, auth_app)
    token = invited(client, auth_app, admin)
    invited(client, auth_app, admin, role="admin")
    invited(client, auth_app, admin, "taras@example.org")
    if by == "cli":
        granter = None
        result = CliRunner().invoke(
            viche, ["auth", "grant-role", "kyiv", "olena@example.org", "moderator"]
        )
        assert result.exit_code == 0, result.output
    else:
        platform = confirmed_resident(client, auth_app, "platform@example.org")
        CliRunner().invoke(viche, ["auth", "grant-platform-admin", "platform@example.org"])
        platform = login(client, "platform@example.org").json
        granter = user_id(platform)
        path = f"/api/auth/councils/kyiv/roles/{user_id(olena)}/moderator"
        assert client.put(path, headers=bearer(platform)).status_code == 204
    pending = client.get(INVITE, headers=bearer(admin)).json["invitations"]
    assert sorted((row["email"], row["role"]) for row in pending) == [
        ("olena@example.org", "admin"),
        ("taras@example.org", "moderator"),
    ]
    moderator = next(row for row in _invitations(auth_app) if row.role == "moderator")
    assert moderator.withdrawn_at is not None and moderator.accepted_at is None
    assert [change.by_user_id for change in _grants(auth_app)] == [granter]
    refused = accept(client, token, olena)
    assert refused.status_code == 400 and "withdrawn" in refused.json["detail"]
    assert [change.by_user_id for change in _grants(auth_app)] == [granter]


def test_a_role_given_to_an_unconfirmed_account_leaves_the_invitation_pending(
    client, auth_app, admin
):
    """An account that has not confirmed the address is not known to be its owner's:
    the invitation stays for whoever confirms it."""
    assert register(client).status_code == 202
    invited(client, auth_app, admin)
    result = CliRunner().invoke(
        viche, ["auth", "grant-role", "kyiv", "olena@example.org", "moderator"]
    )
    assert result.exit_code == 0, result.output
    (pending,) = client.get(INVITE, headers=bearer(admin)).json["invitations"]
    assert pending["email"] == "olena@example.org" and pending["role"] == "moderator"


def test_accepting_a_role_held_already_writes_no_second_grant(client, auth_app, admin):
    """The operator gave the role first, the admin invited after (not knowing): the
    invitation is accepted and settled, the role stays the operator's grant, once."""
    olena = confirmed_resident(client, auth_app)
    result = CliRunner().invoke(
        viche, ["auth", "grant-role", "kyiv", "olena@example.org", "moderator"]
    )
    assert result.exit_code == 0, result.output
    token = invited(client, auth_app, admin)
    assert len(client.get(INVITE, headers=bearer(admin)).json["invitations"]) == 1
    accepted = accept(client, token, olena)
    assert accepted.status_code == 200 and accepted.json["role"] == "moderator"
    assert [change.by_user_id for change in _grants(auth_app)] == [None]
    with auth_app.app_context():
        (held,) = db.session.scalars(select(CouncilRole).where(CouncilRole.role == "moderator"))
        assert held.granted_by is None
    (invitation,) = _invitations(auth_app)
    assert invitation.accepted_by == user_id(olena) and invitation.withdrawn_at is None
    assert client.get(INVITE, headers=bearer(admin)).json["invitations"] == []
    assert claims(client, "olena@example.org")["roles"] == {"kyiv": ["moderator"]}


@pytest.mark.skipif(TEST_DB != "postgres", reason="concurrent requests need a server database")
def test_accepting_while_the_role_is_granted_directly_grants_it_once(client, auth_app, admin):
    """The invitee accepts while a platform admin grants the same role: whichever comes
    first, the role is granted once, with one RoleChange, the invitation is settled one
    way, and neither request fails."""
    olena = confirmed_resident(client, auth_app)
    confirmed_resident(client, auth_app, "platform@example.org")
    CliRunner().invoke(viche, ["auth", "grant-platform-admin", "platform@example.org"])
    platform = login(client, "platform@example.org").json
    path = f"/api/auth/councils/kyiv/roles/{user_id(olena)}/moderator"
    for attempt in range(4):
        if attempt:
            assert client.delete(path, headers=bearer(platform)).status_code == 204
            olena = login(client).json
        token = invited(client, auth_app, admin)

        def accepting(token=token, olena=olena):
            return accept(Client(client.application), token, olena).status_code

        def granting():
            return Client(client.application).put(path, headers=bearer(platform)).status_code

        statuses = released_together([accepting, granting])
        assert statuses[1] == 204 and statuses[0] in (200, 400), statuses
        with auth_app.app_context():
            held = db.session.scalar(
                select(func.count()).select_from(CouncilRole).where(CouncilRole.role == "moderator")
            )
        assert held == 1
        assert len(_grants(auth_app)) == attempt + 1
        latest = _invitations(auth_app)[-1]
        assert (latest.accepted_at is None) != (latest.withdrawn_at is None)
        assert (statuses[0] == 200) == (latest.accepted_at is not None)
