"""Failed logins, throttled per account and per client address.

Only failures count, so a resident who types the right password is never slowed by an
attacker guessing at their address from elsewhere more than the account limit allows.
Storage is Redis when REDIS_URL is set (shared by every auth process), memory otherwise.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

PER_ACCOUNT = RateLimitItemPerMinute(10, 15)  # 10 failures per 15 minutes per address
PER_CLIENT = RateLimitItemPerMinute(50, 15)  # 50 failures per 15 minutes per client


class LoginThrottle:
    def __init__(self, redis_url: str | None) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(redis_url or "memory://"))

    def _keys(self, email: str, client: str):
        return ((PER_ACCOUNT, "login-account", email), (PER_CLIENT, "login-client", client))

    def retry_after(self, email: str, client: str) -> int | None:
        """Seconds to wait when either limit is spent, else None."""
        for item, *identifiers in self._keys(email, client):
            if not self.limiter.test(item, *identifiers):
                reset = self.limiter.get_window_stats(item, *identifiers).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    def forget_all(self) -> None:
        """Drop every count (a fresh start for tests; an operator lifting all lockouts)."""
        self.limiter.storage.reset()

    def failed(self, email: str, client: str) -> None:
        for item, *identifiers in self._keys(email, client):
            self.limiter.hit(item, *identifiers)
