"""Failed logins, throttled per account and per client address.

Only failures count, so a resident who types the right password is never slowed by an
attacker guessing at their address from elsewhere more than the account limit allows.
"""

from __future__ import annotations

from flask import current_app

from services.common.throttle import app_throttle

LIMITS = {
    "login-account": "10/15 minutes",  # failures per address
    "login-client": "50/15 minutes",  # failures per client address
}


class LoginThrottle:
    def __init__(self) -> None:
        self.throttle = app_throttle(current_app, "login", LIMITS)

    @staticmethod
    def _keys(email: str, client: str):
        return (("login-account", email), ("login-client", client))

    def retry_after(self, email: str, client: str) -> int | None:
        """Seconds to wait when either limit is spent, else None."""
        for name, identifier in self._keys(email, client):
            wait = self.throttle.retry_after(name, identifier)
            if wait:
                return wait
        return None

    def failed(self, email: str, client: str) -> None:
        for name, identifier in self._keys(email, client):
            self.throttle.hit(name, identifier)
