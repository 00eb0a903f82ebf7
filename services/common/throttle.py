"""Limits a service enforces itself: attempts per key in a moving window.

The gateway limits requests per client and service; a service limits what only it can
name (failed sign-ins per account, vote requests per email hash). Storage is Redis when
REDIS_URL is set, shared by every process of the service, memory otherwise. A storage
fault lets the attempt through and is logged: a limiter outage must not be an outage.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Mapping

from flask import Flask, request
from limits import parse
from limits.strategies import MovingWindowRateLimiter

from .local_limits import storage_for

log = logging.getLogger("viche.throttle")


def client_network(address: str | None) -> str:
    """Whom a per-client limit counts: an IPv4 address, or an IPv6 address's /64 (one
    subscriber's network, in which whoever holds it has more addresses than any limit
    could count one by one)."""
    if not address:
        return "unknown"
    if ":" not in address:  # IPv4, the common case, as it is
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    except ValueError:
        return address


def requesting_client() -> str:
    """The current request's client, as per-client limits count it."""
    return client_network(request.remote_addr)


EXTENSION_PREFIX = "viche.throttle."


class Throttle:
    """Named limits ("10/15 minutes") over one storage."""

    def __init__(self, redis_url: str | None, limits: Mapping[str, str]) -> None:
        self.limiter = MovingWindowRateLimiter(storage_for(redis_url))
        self.items = {name: parse(spec) for name, spec in limits.items()}

    def _wait(self, name: str, identifiers: tuple[str, ...]) -> int:
        reset = self.limiter.get_window_stats(self.items[name], name, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))

    def retry_after(self, name: str, *identifiers: str) -> int | None:
        """Seconds to wait when the limit is spent, else None; counts nothing."""
        try:
            if not self.limiter.test(self.items[name], name, *identifiers):
                return self._wait(name, identifiers)
        except Exception as exc:
            log.warning("throttle storage failed: %s", exc)
        return None

    def hit(self, name: str, *identifiers: str) -> int | None:
        """Count one attempt; seconds to wait when it was over the limit, else None."""
        try:
            if not self.limiter.hit(self.items[name], name, *identifiers):
                return self._wait(name, identifiers)
        except Exception as exc:
            log.warning("throttle storage failed: %s", exc)
        return None

    def forget_all(self) -> None:
        """Drop every count (a fresh start for tests; an operator lifting all limits)."""
        self.limiter.storage.reset()


def app_throttle(app: Flask, name: str, limits: Mapping[str, str]) -> Throttle:
    """The app's throttle called `name`, made on first use."""
    key = EXTENSION_PREFIX + name
    if key not in app.extensions:
        app.extensions[key] = Throttle(app.config.get("REDIS_URL"), limits)
    return app.extensions[key]


def all_throttles(app: Flask) -> list[Throttle]:
    return [value for key, value in app.extensions.items() if key.startswith(EXTENSION_PREFIX)]
