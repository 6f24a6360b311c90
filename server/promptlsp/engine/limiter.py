"""Per-model concurrency limiter that also pauses a model after a rate-limit answer.

Not an ``asyncio.Semaphore``: the capacity follows the spec (a user may edit ``concurrency``
while the language server keeps its engine), and a 429 with ``Retry-After`` should hold back
every call to that model, not just the one that got it. Waiters are futures of the running
loop, so one limiter works across event loops (one per test, one per CLI run).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class Limiter:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._paused_until = 0.0

    def resize(self, capacity: int) -> None:
        self.capacity = capacity
        self._wake()

    def pause(self, seconds: float) -> None:
        """Hold back new calls for ``seconds`` (from a ``Retry-After``)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        while self.active >= self.capacity:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif not waiter.cancelled():
                    self._wake()  # pass the wake-up on: we will not use the slot
                raise
        self.active += 1
        try:
            while (delay := self._paused_until - time.monotonic()) > 0:
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.release()
            raise

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.capacity - self.active
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    async def __aenter__(self) -> "Limiter":
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
