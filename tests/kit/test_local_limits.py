"""Rate-limit counts in process memory: exact windows, and ended windows forgotten."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from limits import parse
from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindowRateLimiter
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from services.common import local_limits
from services.common.local_limits import AsyncLocalStorage, LocalStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(local_limits, "time", clock)
    return clock


def test_a_moving_window_refuses_the_extra_hit_until_the_first_leaves_it(clock):
    limiter = MovingWindowRateLimiter(LocalStorage())
    five_an_hour = parse("5/hour")
    for _ in range(5):
        clock.now += 60
        assert limiter.hit(five_an_hour, "votes", "address")
    started = clock.now - 4 * 60
    assert not limiter.hit(five_an_hour, "votes", "address")
    assert limiter.hit(five_an_hour, "votes", "another address")  # keys are apart
    stats = limiter.get_window_stats(five_an_hour, "votes", "address")
    assert stats.remaining == 0 and stats.reset_time == started + 3600
    clock.now = started + 3600  # the first hit leaves the window
    assert limiter.test(five_an_hour, "votes", "address")
    assert limiter.hit(five_an_hour, "votes", "address")
    assert not limiter.hit(five_an_hour, "votes", "address")


def test_a_fixed_window_counts_until_it_ends(clock):
    limiter = FixedWindowRateLimiter(LocalStorage())
    three_a_minute = parse("3/minute")
    assert all(limiter.hit(three_a_minute, "polls", "10.0.0.1") for _ in range(3))
    assert not limiter.hit(three_a_minute, "polls", "10.0.0.1")
    assert limiter.get_window_stats(three_a_minute, "polls", "10.0.0.1").reset_time == (
        clock.now + 60
    )
    clock.now += 60
    assert limiter.hit(three_a_minute, "polls", "10.0.0.1")


def test_ended_windows_are_forgotten_without_rescanning(clock):
    storage = LocalStorage()
    moving = MovingWindowRateLimiter(storage)
    fixed = FixedWindowRateLimiter(storage)
    for n in range(5000):
        moving.hit(parse("5/hour"), "votes", f"address {n}")
        fixed.hit(parse("10/minute"), "polls", f"client {n}")
    assert len(storage._hits) == 5000 and len(storage._counts) == 5000
    clock.now += 61  # the minute windows have ended, the hour ones not
    fixed.hit(parse("10/minute"), "polls", "a new client")
    assert len(storage._counts) == 1 and len(storage._hits) == 5000
    clock.now += 3600
    moving.hit(parse("5/hour"), "votes", "a new address")
    assert len(storage._hits) == 1 and len(storage._counts) == 0
    assert storage.reset() == 1


def test_the_gateway_limiter_counts_the_same_way_under_asyncio(clock):
    limiter = AsyncFixedWindowRateLimiter(AsyncLocalStorage())
    two_a_minute = parse("2/minute")

    async def hits() -> list[bool]:
        return [await limiter.hit(two_a_minute, "auth", "10.0.0.2") for _ in range(3)]

    # In a thread of its own: where the browser tests ran before on this worker, their
    # driver keeps an event loop running in the main thread, and asyncio.run refuses.
    with ThreadPoolExecutor(1) as apart:
        assert apart.submit(asyncio.run, hits()).result() == [True, True, False]
