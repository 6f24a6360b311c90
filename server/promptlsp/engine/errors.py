"""Typed errors of the engine.

Only two things ever escape ``Session.complete``: :class:`BudgetExhausted` (the run must stop
cleanly) and ``asyncio.CancelledError``. Backends raise :class:`TransientError` (worth a retry)
or :class:`PermanentError`; the session turns them into a failed ``CallResult``.
"""

from __future__ import annotations

from typing import Literal

# "quota": a budget or quota the provider or a gateway (a LiteLLM proxy) enforces is spent — a
# 429 or 400 that waiting a few seconds does not fix, so it is not retried.
FailureKind = Literal["parse", "timeout", "rate_limit", "quota", "server", "connection", "auth", "bad_request", "other"]
TRANSIENT_KINDS: frozenset[str] = frozenset({"timeout", "rate_limit", "server", "connection"})
BudgetLimit = Literal["max_calls", "max_tokens", "max_usd"]


class BackendError(Exception):
    """A provider call that did not produce an answer. ``message`` must already be scrubbed."""

    transient = False

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.retry_after = retry_after
        self.status = status


class TransientError(BackendError):
    """Rate limit, 5xx, connection error or timeout: retried with backoff."""

    transient = True


class PermanentError(BackendError):
    """Auth, bad request, unavailable local model, anything else: not retried."""


def backend_error(kind: FailureKind, message: str, **kwargs: object) -> BackendError:
    """The right subclass for ``kind``."""
    cls = TransientError if kind in TRANSIENT_KINDS else PermanentError
    return cls(kind, message, **kwargs)  # type: ignore[arg-type]


class BudgetExhausted(Exception):
    """The run's budget forbids another provider call; the caller stops with what it has."""

    def __init__(self, limit: BudgetLimit, used: float, maximum: float, reason: str | None = None) -> None:
        """``reason``: why, when it is not that the limit was reached (e.g. a price is unknown)."""
        super().__init__(f"budget exhausted: {reason}" if reason else f"budget exhausted: {limit} (used {used:g} of {maximum:g})")
        self.limit: BudgetLimit = limit
        self.reason = reason
        self.used = used
        self.maximum = maximum
