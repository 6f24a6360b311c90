"""Per-model concurrency limiter that also pauses a model after a rate-limit answer.

Not an ``asyncio.Semaphore``: the capacity follows the spec (a user may edit ``concurrency``
while the language server keeps its engine), and a 429 with ``Retry-After`` should hold back
every call to that model, not just the one that got it. Waiters are futures of the running
loop, so one limiter works across event loops (one per test, one per CLI run).

With a ``ceiling`` (a hosted provider's default limit, see ``spec.HOSTED_CEILING``) the
capacity grows like TCP's slow start, by what the provider's answers vouch for: each answer
earns one more call at once, up to the ceiling. While calls wait for a slot, each answer lets
one more run (so the capacity doubles in one round of answers); and a round wider than any
before starts at once up to what the answers so far earned (an optimizer's later rounds are
often its widest: one started with a queue would run in two waves, each a full latency). The
first rate-limit answer ends the growth for good and halves the capacity; later ones halve it
again while it is above where it started. A timeout, a server error or a dropped connection
ends the growth too (the capacity stays). A fixed capacity (``concurrency`` set, a local
server's slots) only pauses on a rate-limit answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class Limiter:
    def __init__(self, capacity: int, ceiling: int | None = None) -> None:
        self.active = 0
        self.waiting = 0  # callers in acquire() without a slot yet
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._paused_until = 0.0
        self._configure(capacity, ceiling)

    def resize(self, capacity: int, ceiling: int | None = None) -> None:
        """Start again from what a changed spec asks for."""
        self._configure(capacity, ceiling)
        self._wake()

    def _configure(self, capacity: int, ceiling: int | None) -> None:
        self.capacity = capacity
        self.ceiling = ceiling if ceiling is not None and ceiling > capacity else None
        self.configured = (capacity, ceiling)  # what the spec asked for (the capacity may have grown)
        self._answers = 0  # answers since then: each earns one more call at once (up to the ceiling)

    def answered(self) -> None:
        """A call got its answer: it earns one more call at once; one that waits may run now."""
        if self.ceiling is None:
            return
        self._answers += 1
        if self.waiting > self.capacity - self.active and self._grow():
            self._wake()

    def _grow(self) -> bool:
        """One more call at once, if the limit may grow and the answers so far earned it."""
        if self.ceiling is not None and self.capacity < min(self.ceiling, self.configured[0] + self._answers):
            self.capacity += 1
            return True
        return False

    def strained(self) -> None:
        """A timeout, a server error or a dropped connection: no more growth (the limit stays)."""
        self.ceiling = None

    def rate_limited(self) -> None:
        """A rate-limit answer: a growing limit halves and grows no more; a grown one halves
        while above where it started; a fixed one stays."""
        start = self.configured[0]
        if self.capacity > start:
            self.capacity = max(start, self.capacity // 2)
        elif self.ceiling is not None:  # the starting limit itself was too many
            self.capacity = max(1, self.capacity // 2)
        self.ceiling = None

    def pause(self, seconds: float) -> None:
        """Hold back new calls for ``seconds`` (from a ``Retry-After``)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        self.waiting += 1  # until it holds a slot (a woken waiter has not taken one yet)
        try:
            while self.active >= self.capacity and not self._grow():  # every slot taken
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
        finally:
            self.waiting -= 1
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
