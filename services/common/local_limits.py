"""Counts for the `limits` strategies, kept in this process's memory.

Used where no REDIS_URL is set (embedded mode, one process). `limits` has a memory
storage of its own, but while hits keep coming it rescans every key it holds a hundred
times a second: an hour of email votes from distinct addresses (a key each) costs a
whole core. Here the end of each window goes on a heap, and every write first drops the
windows that have ended, oldest first: a key is dropped once, and a write costs
O(log n) however many keys there are.

Fixed windows (the gateway's limits) keep a count per key; moving windows (the
services' throttles) keep the times of the hits still inside the window.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from typing import ClassVar

from limits.aio.storage import MovingWindowSupport as AsyncMovingWindowSupport
from limits.aio.storage import Storage as AsyncStorage
from limits.storage import MovingWindowSupport, Storage


class LocalStorage(Storage, MovingWindowSupport):
    """limits' storage interface over dictionaries, with expiry by heap."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["viche-local"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (window ends, count)
        self._hits: dict[str, tuple[float, deque[float]]] = {}  # key -> (window, hit times)
        self._ends: list[tuple[float, str]] = []  # (when a key's window may end, key)
        self._lock = threading.Lock()

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _drop_ended(self, now: float) -> None:
        """Forget the keys whose windows have ended (hold the lock)."""
        ends = self._ends
        while ends and ends[0][0] <= now:
            _, key = heapq.heappop(ends)
            count = self._counts.get(key)
            if count is not None and count[0] <= now:
                del self._counts[key]
            hits = self._hits.get(key)
            if hits is not None and (not hits[1] or hits[1][-1] + hits[0] <= now):
                del self._hits[key]

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            self._drop_ended(now)
            ends, count = self._counts.get(key, (0.0, 0))
            if ends <= now:  # a new window
                ends, count = now + expiry, 0
                heapq.heappush(self._ends, (ends, key))
            self._counts[key] = (ends, count + amount)
            return count + amount

    def get(self, key: str) -> int:
        ends, count = self._counts.get(key, (0.0, 0))
        return count if ends > time.time() else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        ends, _ = self._counts.get(key, (now, 0))
        return ends if ends > now else now

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        with self._lock:
            self._drop_ended(now)
            _, hits = self._hits.get(key, (expiry, None))
            if hits is None:
                hits = deque()
                self._hits[key] = (expiry, hits)
            while hits and hits[0] <= now - expiry:
                hits.popleft()
            if len(hits) + amount > limit:
                return False
            hits.extend([now] * amount)
            heapq.heappush(self._ends, (now + expiry, key))
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        with self._lock:
            _, hits = self._hits.get(key, (expiry, ()))
            inside = [at for at in hits if at > now - expiry]  # at most `limit` of them
        return (inside[0], len(inside)) if inside else (now, 0)

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            dropped = len(self._counts) + len(self._hits)
            self._counts.clear()
            self._hits.clear()
            self._ends.clear()
        return dropped

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)
            self._hits.pop(key, None)


class AsyncLocalStorage(AsyncStorage, AsyncMovingWindowSupport):
    """The same for limits' asyncio strategies (the distributed gateway): nothing here
    waits, so each call runs the synchronous one."""

    STORAGE_SCHEME: ClassVar[list[str]] = ["async+viche-local"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.local = LocalStorage()

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return self.local.incr(key, expiry, amount)

    async def get(self, key: str) -> int:
        return self.local.get(key)

    async def get_expiry(self, key: str) -> float:
        return self.local.get_expiry(key)

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return self.local.acquire_entry(key, limit, expiry, amount)

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return self.local.get_moving_window(key, limit, expiry)

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        return self.local.reset()

    async def clear(self, key: str) -> None:
        self.local.clear(key)


def storage_for(redis_url: str | None, asynchronous: bool = False):
    """Redis when the deployment has one (every process shares the counts), else this
    process's memory."""
    if redis_url:
        from limits.storage import storage_from_string

        return storage_from_string(("async+" if asynchronous else "") + redis_url)
    return AsyncLocalStorage() if asynchronous else LocalStorage()
