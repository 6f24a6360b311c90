"""Per-run accounting and budget enforcement.

Counted per run and per phase (``task``, ``judge``, ``gradient``… — whatever callers pass):
``calls`` are requests sent to a provider, retries and repair rounds included (that is what a
provider sees and bills, and what ``max_calls`` caps); ``retries`` says how many of them were
retries. Cache hits are counted apart and are free.

Budgets are enforced before each call by *reserving*: the call itself (so concurrent callers
can never pass ``max_calls``), and for tokens/USD an estimate (prompt tokens + the completion
cap), settled with the real usage afterwards. A failed attempt settles at zero tokens (the
provider reports none). Once a limit refuses a call the run is marked exhausted for good: every
later call is refused too, so a run stops cleanly instead of limping on. A ``max_usd`` that is
the only limit refuses calls to a model without a known price (it could not stop them); with
another limit beside it, such calls are let through and counted in ``cost_unknown_calls``.

Everything here runs on the event loop thread without awaiting, so no lock is needed.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from .errors import BudgetExhausted, BudgetLimit
from .spec import Budget


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass
class Totals:
    calls: int = 0
    retries: int = 0
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0  # answered calls whose price litellm's map lacks
    wall_s: float = 0.0  # time with at least one call in flight
    busy_s: float = 0.0  # sum of call latencies (> wall_s when calls overlap)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Reservation:
    phase: str
    tokens: int
    usd: float
    settled: bool = False


@dataclass
class _Clock:
    """Union of in-flight intervals: wall time a phase (or the run) spent waiting on models."""

    active: int = 0
    since: float = 0.0

    def enter(self, now: float) -> None:
        if self.active == 0:
            self.since = now
        self.active += 1

    def leave(self, now: float, totals: Totals) -> None:
        self.active -= 1
        if self.active == 0:
            totals.wall_s += now - self.since

    def ongoing(self, now: float) -> float:
        return now - self.since if self.active else 0.0


class Accounting:
    """Totals, per-phase totals, and the budget ledger of one session."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget
        self.total = Totals()
        self.by_phase: dict[str, Totals] = {}
        self.exhausted: BudgetLimit | None = None
        self.exhausted_reason: str | None = None  # when the limit was not simply reached
        self.started = time.monotonic()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._clocks: dict[str | None, _Clock] = {}

    def phase(self, name: str) -> Totals:
        return self.by_phase.setdefault(name, Totals())

    def _both(self, phase: str) -> tuple[Totals, Totals]:
        return self.total, self.phase(phase)

    # -- budget --------------------------------------------------------------------------------
    def _refuse(self, limit: BudgetLimit, used: float, maximum: float) -> BudgetExhausted:
        self.exhausted = self.exhausted or limit
        return BudgetExhausted(limit, used, maximum)

    def refuse(self, limit: BudgetLimit, reason: str) -> BudgetExhausted:
        """Stop the run for good on ``limit`` for a reason other than reaching it."""
        if self.exhausted is None:
            self.exhausted, self.exhausted_reason = limit, reason
        maximum = getattr(self.budget, limit, None) if self.budget else None
        return BudgetExhausted(limit, self._used(limit), maximum or 0, self.exhausted_reason)

    def _used(self, limit: BudgetLimit) -> float:
        return {"max_calls": self.total.calls, "max_tokens": self.total.tokens, "max_usd": self.total.cost_usd}[limit]

    def check(self, tokens: int = 0, usd: float = 0.0) -> None:
        """Raise :class:`BudgetExhausted` if one more call of this size is not allowed."""
        budget = self.budget
        if self.exhausted is not None:
            limit = self.exhausted
            maximum = getattr(budget, limit) if budget else 0
            raise BudgetExhausted(limit, self._used(limit), maximum or 0, self.exhausted_reason)
        if budget is None:
            return
        if budget.max_calls is not None and self.total.calls + 1 > budget.max_calls:
            raise self._refuse("max_calls", self.total.calls, budget.max_calls)
        held_tokens = self.total.tokens + self._reserved_tokens
        if budget.max_tokens is not None and held_tokens + tokens > budget.max_tokens:
            raise self._refuse("max_tokens", held_tokens, budget.max_tokens)
        held_usd = self.total.cost_usd + self._reserved_usd
        if budget.max_usd is not None and held_usd + usd > budget.max_usd:
            raise self._refuse("max_usd", held_usd, budget.max_usd)

    def reserve(self, phase: str, tokens: int, usd: float, *, retry: bool = False) -> Reservation:
        """Count one provider call and hold its estimated tokens/cost, or raise."""
        self.check(tokens, usd)
        for totals in self._both(phase):
            totals.calls += 1
            totals.retries += int(retry)
        self._reserved_tokens += tokens
        self._reserved_usd += usd
        return Reservation(phase, tokens, usd)

    def settle(self, reservation: Reservation, usage: Usage | None, cost: float | None, latency_s: float) -> None:
        """Replace a reservation by what the call really used (``usage`` None: it failed)."""
        if reservation.settled:
            return
        reservation.settled = True
        self._reserved_tokens -= reservation.tokens
        self._reserved_usd -= reservation.usd
        for totals in self._both(reservation.phase):
            totals.busy_s += latency_s
            if usage is None:
                continue
            totals.prompt_tokens += usage.prompt_tokens
            totals.completion_tokens += usage.completion_tokens
            if cost is None:
                totals.cost_unknown_calls += 1
            else:
                totals.cost_usd += cost

    # -- other events --------------------------------------------------------------------------
    def cache_hit(self, phase: str) -> None:
        for totals in self._both(phase):
            totals.cache_hits += 1

    def failure(self, phase: str) -> None:
        for totals in self._both(phase):
            totals.failures += 1

    @contextmanager
    def in_flight(self, phase: str) -> Iterator[None]:
        """Measure wall time: the union of intervals with a call of this phase in flight."""
        clocks = (self._clocks.setdefault(None, _Clock()), self._clocks.setdefault(phase, _Clock()))
        now = time.monotonic()
        for clock in clocks:
            clock.enter(now)
        try:
            yield
        finally:
            now = time.monotonic()
            for clock, totals in zip(clocks, self._both(phase)):
                clock.leave(now, totals)

    def active_phases(self) -> list[str]:
        """Phases with a call in flight right now (a progress display may ask from its thread)."""
        return [name for name, clock in list(self._clocks.items()) if name is not None and clock.active > 0]

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-serialisable state (wall time includes calls still in flight)."""
        now = time.monotonic()

        def row(key: str | None, totals: Totals) -> dict[str, Any]:
            out = asdict(totals)
            clock = self._clocks.get(key)
            out["wall_s"] += clock.ongoing(now) if clock else 0.0
            out["tokens"] = totals.tokens
            return out

        return {
            "budget": asdict(self.budget) if self.budget else None,
            "budget_exhausted": self.exhausted,
            "budget_exhausted_reason": self.exhausted_reason,
            "elapsed_s": now - self.started,
            "total": row(None, self.total),
            "by_phase": {name: row(name, totals) for name, totals in self.by_phase.items()},
        }
