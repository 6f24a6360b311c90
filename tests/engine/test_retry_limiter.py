"""Backoff arithmetic, Retry-After parsing and the per-model limiter."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time

import pytest

from promptlsp.engine.limiter import Limiter
from promptlsp.engine.retry import RetryPolicy, parse_retry_after


def test_backoff_grows_with_jitter_and_stops() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0, rng=random.Random(0))
    for retry, cap in ((1, 1.0), (2, 2.0), (3, 3.0)):
        delays = {policy.delay(retry) for _ in range(20)}
        assert all(cap / 2 <= d <= cap for d in delays) and len(delays) > 1
    assert policy.delay(4) is None


def test_retry_after_is_a_floor_unless_too_long() -> None:
    policy = RetryPolicy(base_delay=0.01, max_retry_after=10)
    assert policy.delay(1, retry_after=5) == 5
    assert policy.delay(1, retry_after=11) is None


def test_parse_retry_after_forms() -> None:
    now = time.time()
    assert parse_retry_after({"Retry-After": "2"}) == 2
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


async def test_limiter_caps_and_resizes() -> None:
    limiter = Limiter(2)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with limiter:
            peak = max(peak, limiter.active)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(work() for _ in range(8)))
    assert peak == 2 and limiter.active == 0
    limiter.resize(4)
    peak = 0
    await asyncio.gather(*(work() for _ in range(8)))
    assert peak == 4


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = Limiter(1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limiter.release()
    await asyncio.wait_for(limiter.acquire(), 1)
    assert limiter.active == 1


async def test_pause_holds_back_new_calls() -> None:
    limiter = Limiter(4)
    limiter.pause(0.2)
    started = time.monotonic()
    async with limiter:
        assert time.monotonic() - started >= 0.19


async def _peak(limiter: Limiter, calls: int, latency: float = 0.005) -> int:
    """The most calls at once when ``calls`` start together, each reporting its answer."""
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with limiter:
            peak = max(peak, limiter.active)
            await asyncio.sleep(latency)
        limiter.answered()

    await asyncio.gather(*(work() for _ in range(calls)))
    return peak


async def test_a_limit_with_a_ceiling_grows_while_calls_wait_and_the_answers_come() -> None:
    """Slow start: one more call at once per answer while others wait, up to the ceiling."""
    growing = Limiter(4, ceiling=10)
    assert await _peak(growing, 60) == 10 and growing.capacity == 10
    fixed = Limiter(4)
    assert await _peak(fixed, 60) == 4 and fixed.capacity == 4


async def test_a_round_wider_than_any_before_starts_at_once_up_to_what_the_answers_earned() -> None:
    """Each answer earns one more call at once: after 20 answers in rounds of 4, a round of 20
    starts whole (no second wave a latency later); a fresh limiter starts with its first 4."""
    limiter = Limiter(4, ceiling=64)
    for _ in range(5):
        await _peak(limiter, 4)
    assert limiter.capacity == 4  # nothing waited: nothing grew yet
    assert await _peak(limiter, 20, latency=0.05) == 20 and limiter.capacity == 20
    earned_little = Limiter(4, ceiling=64)
    await _peak(earned_little, 2)
    started = [asyncio.create_task(earned_little.acquire()) for _ in range(20)]
    await asyncio.sleep(0)
    assert earned_little.active == 6 and earned_little.waiting == 14  # 4 + the 2 answers earned
    for task in started:
        task.cancel()
    await asyncio.gather(*started, return_exceptions=True)
    capped = Limiter(4, ceiling=10)
    for _ in range(10):
        await _peak(capped, 4)
    assert await _peak(capped, 30, latency=0.05) == 10  # never above the ceiling
    fixed = Limiter(4)
    for _ in range(10):
        await _peak(fixed, 4)
    assert await _peak(fixed, 30) == 4  # a set limit never grows


async def test_no_growth_without_calls_waiting() -> None:
    limiter = Limiter(4, ceiling=10)
    for _ in range(5):
        await _peak(limiter, 3)  # never more calls than slots
    assert limiter.capacity == 4


async def test_a_rate_limit_answer_ends_the_growth_and_halves_the_limit() -> None:
    limiter = Limiter(4, ceiling=64)
    await _peak(limiter, 40)
    grown = limiter.capacity
    assert grown > 8
    limiter.rate_limited()
    assert limiter.capacity == grown // 2 and limiter.ceiling is None
    await _peak(limiter, 60)
    assert limiter.capacity == grown // 2  # grows no more
    while limiter.capacity > 4:
        limiter.rate_limited()  # halves again while above where it started ...
    limiter.rate_limited()
    assert limiter.capacity == 4  # ... not below
    fixed = Limiter(4)
    fixed.rate_limited()
    assert fixed.capacity == 4  # a set limit is the user's: only paused (Retry-After)


async def test_a_limit_that_started_too_high_halves_once() -> None:
    limiter = Limiter(16, ceiling=64)
    limiter.rate_limited()
    limiter.rate_limited()
    assert limiter.capacity == 8 and limiter.ceiling is None


async def test_a_timeout_or_server_error_ends_the_growth_but_keeps_the_limit() -> None:
    limiter = Limiter(4, ceiling=64)
    await _peak(limiter, 40)
    grown = limiter.capacity
    limiter.strained()
    await _peak(limiter, 80)
    assert limiter.capacity == grown and limiter.ceiling is None
