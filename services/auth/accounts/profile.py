"""What the signed-in person does with their own account: change the name, and, giving
its password, the address, the number or the password; take away their data, delete the
account."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.errors import ValidationFailed
from services.common.timeutil import utcnow

from ..messaging import enqueue_email
from ..messaging.models import OutboxMessage
from .links import confirmation_link
from .models import PhoneVerification, RefreshToken, User
from .passwords import check_new_password, require_password
from .recovery import set_password
from .sessions import TokenPair, issue_tokens, revoke_all_sessions
from .settings import Settings
from .users import active_user_by_email


def change_name(session: Session, user: User, name: str) -> None:
    """The name the person signs with from now on: in the tokens issued next, on the
    signatures given after. Those given before keep the name they were given with (a
    signer list records who signed, as they were then)."""
    if name != user.name:
        user.name = name
        session.commit()


def change_email(
    session: Session, settings: Settings, user: User, new_email: str, password: str
) -> None:
    """Send a confirmation link to the new address; the old one counts until it is used.

    An address that belongs to another account gets nothing, and the answer is the same.
    The account's own address is refused: nothing would be sent, nor wait to be confirmed.
    """
    require_password(user, password)
    if new_email == user.email:  # both as EmailAddress normalises them
        same = gettext("This is already your address.")
        raise ValidationFailed(same, errors={"email": [same]})
    if active_user_by_email(session, new_email) is not None:
        return
    user.pending_email = new_email
    user.link_nonce += 1  # links sent earlier stop working
    enqueue_email(
        session,
        to=new_email,
        template="confirm_email",
        locale=user.locale,
        context={"link": confirmation_link(settings, user, new_email)},
        user_id=user.id,
    )
    session.commit()


def change_phone(session: Session, user: User, new_phone: str, password: str) -> None:
    """Set a number to verify; the verified one stays until the new one is verified.
    The verified number itself is refused: there would be nothing to verify."""
    require_password(user, password)
    if new_phone == user.phone and user.phone_verified_at is not None:  # both in E.164
        same = gettext("This is already your number.")
        raise ValidationFailed(same, errors={"phone": [same]})
    if user.phone_verified_at is None:
        user.phone, user.pending_phone = new_phone, None
    else:
        user.pending_phone = new_phone
    session.commit()


def change_password(
    session: Session, settings: Settings, user: User, *, current: str, new: str
) -> TokenPair:
    """A signed-in person's new password, given the current one. Every session is signed
    out and the caller's goes on with the pair returned; the account's address is told,
    so that its owner learns of a change they did not make."""
    # Two changes at once take turns (PostgreSQL; SQLite writes one at a time): the later
    # one checks the password the earlier one set, and its sign-out includes the earlier
    # one's new session.
    session.refresh(user, with_for_update=True)
    require_password(user, current, field="current_password")
    check_new_password(new, user.email or "", user.name or "", field="new_password")
    set_password(session, user, new)
    confirmed = user.email_verified_at is not None
    enqueue_email(
        session,
        to=user.email,
        template="password_changed",
        locale=user.locale,
        # An address never confirmed may be someone else's: it is not told the name.
        context={
            "name": user.name if confirmed else None,
            "reset_url": f"{settings.public_url}/password/forgot?lang={user.locale}",
        },
        user_id=user.id,
    )
    return issue_tokens(session, settings, user, family=None)


def export_data(session: Session, user: User) -> dict:
    """Everything auth holds about this person, as they may take it away."""
    sessions = session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)).all()
    codes = session.scalars(
        select(PhoneVerification).where(PhoneVerification.user_id == user.id)
    ).all()
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.user_id == user.id).order_by(OutboxMessage.id)
    ).all()
    return {
        "account": {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "email_verified_at": user.email_verified_at,
            "phone": user.phone,
            "phone_verified_at": user.phone_verified_at,
            "pending_email": user.pending_email,
            "pending_phone": user.pending_phone,
            "locale": user.locale,
            "created_at": user.created_at,
        },
        "sessions": [
            {
                "started_at": t.created_at,
                "used_at": t.used_at,
                "revoked_at": t.revoked_at,
                "expires_at": t.expires_at,
            }
            for t in sessions
        ],
        "phone_verifications": [
            {"phone": v.phone, "sent_at": v.created_at, "verified_at": v.used_at} for v in codes
        ],
        "messages": [
            {
                "channel": m.channel,
                "to": m.recipient,
                "subject": m.subject,
                "template": m.template,
                "created_at": m.created_at,
                "status": m.status,
            }
            for m in messages
        ],
    }


def delete_account(session: Session, user: User, password: str) -> None:
    """Erase the person; keep only the keyed hashes that stop a second vote or signature."""
    require_password(user, password)
    revoke_all_sessions(session, user.id)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.user_id == user.id)
        .values(
            recipient="[erased]", subject=None, text_body="[erased]", html_body=None, redacted=True
        )
    )
    session.query(PhoneVerification).filter(PhoneVerification.user_id == user.id).delete()
    user.erased_phone_hash = user.phone_hash
    user.name = user.email = user.phone = user.password_hash = None
    user.pending_email = user.pending_phone = user.phone_hash = None
    user.deleted_at = utcnow()
    user.link_nonce += 1
    session.commit()
