"""Failed logins, throttled per account and per client address; registrations and
requests for an account's email per client address; changes of address per account.

Only failures count, and the tight limit on an account counts them per client: an
attacker who guesses at someone's address from one place locks out only that place,
not the resident. Guesses spread over many places meet the account's wider limit.
"""

from __future__ import annotations

from flask import current_app

from services.common.throttle import Throttle, app_throttle

LIMITS = {
    "login-account-client": "10/15 minutes",  # failures per address, from one client
    "login-account": "100/hour",  # failures per address, from anywhere
    "login-client": "50/15 minutes",  # failures per client address
}
# Each registration hashes a password with argon2 (on purpose: the answer's timing must
# not tell who is registered) and sends an email: a client opening accounts without
# end would take auth's processors and send mail to whoever it names. The limit per
# client is REGISTRATION_LIMIT_PER_CLIENT (30 an hour unless configured).
# A change of address emails the new one a link: enough to mend a typo or two, too few
# to fill a stranger's mailbox from one account.
ADDRESS_CHANGE_LIMITS = {"address-change-account": "5/hour"}
# A name is public on the signer lists: enough to mend a typo, too few to make one
# account a different signer every hour.
NAME_CHANGE_LIMITS = {"name-change-account": "5/day"}
# A reset link or the confirmation link again: anyone may ask for any address, and each
# request is a row the delivery worker answers in turn; one client asking without end
# would fill the table and make everyone else's link late.
MAIL_REQUEST_LIMITS = {"mail-request-client": "30/hour"}


class LoginThrottle:
    def __init__(self) -> None:
        self.throttle = app_throttle(current_app, "login", LIMITS)

    @staticmethod
    def _keys(email: str, client: str):
        return (
            ("login-account-client", (email, client)),
            ("login-account", (email,)),
            ("login-client", (client,)),
        )

    def retry_after(self, email: str, client: str) -> int | None:
        """Seconds to wait when any limit is spent, else None."""
        for name, identifiers in self._keys(email, client):
            wait = self.throttle.retry_after(name, *identifiers)
            if wait:
                return wait
        return None

    def failed(self, email: str, client: str) -> None:
        for name, identifiers in self._keys(email, client):
            self.throttle.hit(name, *identifiers)


def registration_wait(client: str) -> int | None:
    """Count a registration from `client`; seconds to wait when it is one too many."""
    return registration_throttle(current_app).hit("register-client", client)


def registration_throttle(app) -> Throttle:
    limit = app.config["REGISTRATION_LIMIT_PER_CLIENT"]
    return app_throttle(app, "register", {"register-client": limit})


def address_change_wait(user_id: int) -> int | None:
    """Count a change of address asked for by an account; seconds to wait when it is
    one too many."""
    throttle = app_throttle(current_app, "address-change", ADDRESS_CHANGE_LIMITS)
    return throttle.hit("address-change-account", str(user_id))


def name_change_wait(user_id: int) -> int | None:
    """Count a change of name asked for by an account; seconds to wait when it is one
    too many."""
    throttle = app_throttle(current_app, "name-change", NAME_CHANGE_LIMITS)
    return throttle.hit("name-change-account", str(user_id))


def mail_request_wait(client: str) -> int | None:
    """Count a request for an account's email (a reset link, the confirmation link again)
    from `client`; seconds to wait when it is one too many."""
    throttle = app_throttle(current_app, "mail-request", MAIL_REQUEST_LIMITS)
    return throttle.hit("mail-request-client", client)
