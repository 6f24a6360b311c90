"""Retry policy: bounded exponential backoff with jitter that honours ``Retry-After``."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try. The n-th retry waits a random time in
    [d/2, d] with d = min(max_delay, base_delay * 2**(n-1)) ("equal jitter": spreads clients
    apart without ever retrying at once), or the server's ``Retry-After`` if longer. A
    ``Retry-After`` beyond ``max_retry_after`` is not waited for: the call fails instead of
    stalling a run for minutes."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry_number: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry ``retry_number`` (1-based), or None to give up."""
        if retry_number >= self.max_attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        cap = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        backoff = cap / 2 + self.rng.uniform(0, cap / 2)
        return max(backoff, retry_after or 0.0)


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
