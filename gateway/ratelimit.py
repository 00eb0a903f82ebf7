"""Rate limits per client address and service, on the `limits` library.

`limits` is the engine under Flask-Limiter; the gateway uses it directly because the
distributed gateway is not a Flask app and the embedded one must stay a thin WSGI layer.
Services limit what only they can name (failed sign-ins per account, say) with
services.common.throttle on the same storage.
Storage is Redis when REDIS_URL is set, so that all gateway workers share counts, else
this process's memory (services.common.local_limits). A storage fault lets the request
through and is logged: an outage of the limiter must not become an outage of the suite.
"""

from __future__ import annotations

import logging
import math
import time

from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindowRateLimiter
from limits.strategies import FixedWindowRateLimiter

from services.common.local_limits import storage_for
from services.common.throttle import client_network

from .policy import GatewaySettings

log = logging.getLogger("viche.gateway.ratelimit")


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class RateLimiter:
    """Blocking limiter for the embedded gateway."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.items = settings.rate_limits
        self.limiter = FixedWindowRateLimiter(storage_for(settings.redis_url))

    def check(self, service: str, client: str) -> int | None:
        """None when allowed, else the seconds to wait."""
        client = client_network(client)
        try:
            for item in self.items:
                if not self.limiter.hit(item, service, client):
                    stats = self.limiter.get_window_stats(item, service, client)
                    return _retry_after(stats.reset_time)
        except Exception as exc:  # the limiter's storage is down: let the request pass
            log.warning("rate limit storage failed: %s", exc)
        return None


class AsyncRateLimiter:
    """The same limits for the asyncio gateway."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.items = settings.rate_limits
        self.limiter = AsyncFixedWindowRateLimiter(
            storage_for(settings.redis_url, asynchronous=True)
        )

    async def check(self, service: str, client: str) -> int | None:
        client = client_network(client)
        try:
            for item in self.items:
                if not await self.limiter.hit(item, service, client):
                    stats = await self.limiter.get_window_stats(item, service, client)
                    return _retry_after(stats.reset_time)
        except Exception as exc:
            log.warning("rate limit storage failed: %s", exc)
        return None
