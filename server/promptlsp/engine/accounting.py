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

A caller that runs several jobs in one session (``promptlsp eval`` over many files: one budget)
names the job of the calls under :func:`scope`; each scope's totals are kept beside the phases'.
The name travels with the asyncio context, so the tasks a job spawns are counted in it too.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from .errors import BudgetExhausted, BudgetLimit
from .spec import Budget


_SCOPE: ContextVar[str | None] = ContextVar("promptlsp_accounting_scope", default=None)


@contextmanager
def scope(name: str) -> Iterator[None]:
    """Count the calls made in this block (and in the tasks it starts) under ``name`` too."""
    token = _SCOPE.set(name)
    try:
        yield
    finally:
        _SCOPE.reset(token)


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
    scope: str | None = None


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
        self.by_scope: dict[str, Totals] = {}  # see scope()
        self.exhausted: BudgetLimit | None = None
        self.exhausted_reason: str | None = None  # when the limit was not simply reached
        self.started = time.monotonic()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._clocks: dict[str | tuple[str, str] | None, _Clock] = {}  # None: the run; ("scope", name)

    def phase(self, name: str) -> Totals:
        return self.by_phase.setdefault(name, Totals())

    def _both(self, phase: str, scope_name: str | None = None) -> tuple[Totals, ...]:
        """The totals an event of ``phase`` counts in: the run's, the phase's and the scope's."""
        scope_name = scope_name or _SCOPE.get()
        if scope_name is None:
            return self.total, self.phase(phase)
        return self.total, self.phase(phase), self.by_scope.setdefault(scope_name, Totals())

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
        return Reservation(phase, tokens, usd, scope=_SCOPE.get())

    def settle(self, reservation: Reservation, usage: Usage | None, cost: float | None, latency_s: float) -> None:
        """Replace a reservation by what the call really used (``usage`` None: it failed)."""
        if reservation.settled:
            return
        reservation.settled = True
        self._reserved_tokens -= reservation.tokens
        self._reserved_usd -= reservation.usd
        for totals in self._both(reservation.phase, reservation.scope):
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
        scope_name = _SCOPE.get()
        clocks = [self._clocks.setdefault(None, _Clock()), self._clocks.setdefault(phase, _Clock())]
        if scope_name is not None:
            clocks.append(self._clocks.setdefault(("scope", scope_name), _Clock()))
        totals = self._both(phase, scope_name)
        now = time.monotonic()
        for clock in clocks:
            clock.enter(now)
        try:
            yield
        finally:
            now = time.monotonic()
            for clock, counted in zip(clocks, totals):
                clock.leave(now, counted)

    def active_phases(self) -> list[str]:
        """Phases with a call in flight right now (a progress display may ask from its thread)."""
        return [name for name, clock in list(self._clocks.items()) if isinstance(name, str) and clock.active > 0]

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-serialisable state (wall time includes calls still in flight)."""
        now = time.monotonic()

        def row(key: str | tuple | None, totals: Totals) -> dict[str, Any]:
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
        } | ({"by_scope": {name: row(("scope", name), totals) for name, totals in self.by_scope.items()}}
             if self.by_scope else {})
