"""The application layer: an optimization run, the same for the CLI and the language server.

Each adapter loads a valid prompt file its own way (the CLI from disk; the server from the
editor's buffer, with the editor's settings applied) and then goes through the same steps here:

1. :meth:`RunService.plan`: the budget (with the ``--budget-calls`` / ``budgetCalls`` override,
   :func:`with_max_calls`), a session of the workspace's engine, the optimizer, its estimate, the
   budget limit the estimate passes and why ``max_usd`` cannot be enforced
   (:class:`RunPlan`), and :meth:`RunPlan.refusal_reason` — whether to refuse it;
2. :meth:`RunService.open_store`: the workspace's run store, or None when it cannot be opened
   (the run then goes unrecorded, with one warning);
3. :class:`Recorder`: the optimizer's ``emit``; records each event in the store (a store error
   is reported, never fatal) and passes it on to the adapter's progress display;
4. :func:`outcome`: what the run ended with, from its ``RunFinished`` — or, for a cancelled
   run, from what the store recorded.

What the adapters keep is presentation: the CLI's rich lines and exit codes, the server's
JSON-RPC errors, work-done progress and log messages.

One :class:`RunService` holds the engines and stores of one process, per workspace root; the
engines share one backend and one set of per-model concurrency limiters, so runs on several
files at once respect the same limits. Nothing here imports litellm: the engine loads it on its
first model call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Callable, Literal

from ..document.model import PromptFile
from ..engine.spec import Budget
from ..state import cache_path, runs_path
from . import RunRecord, RunStore, RunStoreError

Warn = Callable[[str], None]
Refusal = Literal["usd-unenforced", "over-budget"]


def with_max_calls(budget: Budget | None, max_calls: int | None) -> Budget | None:
    """``budget`` with ``max_calls`` replaced (the editor's ``budgetCalls``, the CLI's
    ``--budget-calls``); unchanged when ``max_calls`` is None."""
    if max_calls is None:
        return budget
    return Budget(max_calls=max_calls, max_tokens=budget.max_tokens if budget else None,
                  max_usd=budget.max_usd if budget else None)


@dataclass(frozen=True)
class RunPlan:
    """An optimizer ready to run, with what it is expected to cost."""

    prompt_file: PromptFile
    session: Any  # engine.Session
    budget: Budget | None
    optimizer: Any  # optimize.Optimizer
    estimate: Any  # engine.Estimate

    @property
    def run_id(self) -> str:
        return self.optimizer.run_id

    @property
    def method(self) -> str:
        return self.optimizer.method

    @property
    def iterations(self) -> int:
        return self.optimizer.settings.iterations

    @property
    def over(self) -> str | None:
        """The budget limit the estimate passes (``"max_calls"``…), or None."""
        return self.estimate.exceeds(self.budget)

    @property
    def usd_note(self) -> str | None:
        """Why the budget's ``max_usd`` cannot be enforced (a model has no price), or None."""
        return self.estimate.usd_unenforced(self.budget)

    def summary(self, name: str) -> str:
        """One line: method, iterations, calls, tokens, cost (the editor's estimate message)."""
        estimate = self.estimate
        cost = ("unknown (no price for " + ", ".join(estimate.unpriced) + ")") if estimate.cost_usd is None \
            else f"${estimate.cost_usd:.4f}"
        n = self.iterations
        rounds = "" if self.method == "critique" else f"{n} iteration{'' if n == 1 else 's'}, "
        unenforced = self.usd_note
        return (f"{self.method} on {name}: {rounds}at most {estimate.calls} calls, {estimate.tokens} tokens, {cost}"
                + (f" — warning: {unenforced}" if unenforced else ""))

    def refusal_reason(self, *, usd_is_the_only_limit: bool, refuse_over_budget: bool) -> Refusal | None:
        """Why not to start the run, or None.

        ``"usd-unenforced"``: ``max_usd`` cannot be enforced and it is the only limit
        (``usd_is_the_only_limit``: the adapter knows which limits the user chose); nothing would
        stop the run. ``"over-budget"`` (only when ``refuse_over_budget``): the estimate passes a
        limit — the editor refuses such a run, the terminal runs it until the budget stops it.
        """
        if self.usd_note is not None and usd_is_the_only_limit:
            return "usd-unenforced"
        if refuse_over_budget and self.over is not None:
            return "over-budget"
        return None


class Recorder:
    """The optimizer's ``emit``: each event recorded in the run store (when there is one), then
    passed to every listener. A store error is reported through ``warn`` and the run goes on."""

    def __init__(self, warn: Warn, *listeners: Callable[[Any], None]) -> None:
        self.warn = warn
        self.listeners = list(listeners)
        self.store: RunStore | None = None
        self.run_id: str | None = None

    def __call__(self, event: Any) -> None:
        if self.store is not None and self.run_id is not None:
            try:
                self.store.record(self.run_id, event)
            except RunStoreError as exc:
                self.warn(f"run store error: {exc}")
        for listener in self.listeners:
            listener(event)


@dataclass(frozen=True)
class Outcome:
    """What a run ended with (a cancelled run's from the store, as far as it got)."""

    status: str
    best: dict[str, Any] | None
    initial_score: float | None
    best_score: float | None
    scored_on: str | None
    accounting: dict[str, Any]
    message: str | None
    examples: list[dict[str, Any]] = field(default_factory=list)  # a critic run's per-example results


def outcome(plan: RunPlan, finished: Any, record: RunRecord | None, scored: list[Any]) -> Outcome:
    """The :class:`Outcome` of ``plan``: from ``finished`` (its RunFinished event; None when it
    was cancelled) or else from the store's ``record`` of it; ``scored`` are its ExampleScored
    events (a critic run's per-example results)."""
    if finished is not None:
        result = Outcome(finished.status, {"template": finished.best.template, "system": finished.best.system},
                         finished.initial_score, finished.best_score, finished.scored_on, finished.accounting,
                         finished.message)
    else:
        result = Outcome(
            "cancelled", (record.best if record else None) or (record.initial if record else None),
            record.initial_score if record else None, record.best_score if record else None,
            record.scored_on if record else None,
            (record.accounting if record else None) or plan.session.accounting.snapshot(),
            record.message if record else "cancelled")
    if plan.method != "critique":
        return result
    return Outcome(**{**result.__dict__, "examples": example_rows(plan.prompt_file, scored)})


def example_rows(prompt_file: PromptFile, scored: list[Any]) -> list[dict[str, Any]]:
    """Per-example results of a critic run (its ExampleScored events, first score of each
    example), in the shape of ``EvalReport.to_dict()["examples"]``."""
    by_id = {e.id: e for e in prompt_file.examples}
    rows: dict[str, dict[str, Any]] = {}
    for event in scored:
        if event.example_id in rows:
            continue
        example = by_id.get(event.example_id)
        rows[event.example_id] = {
            "example_id": event.example_id, "split": event.split,
            "vars": dict(example.vars) if example else {},
            "expected": list(example.expected) if example and example.expected is not None else None,
            "output": event.output, "score": event.score, "passed": event.passed, "error": event.error,
            "checks": [dict(d) for d in event.details],
        }
    return list(rows.values())


def mean_score(rows: list[dict[str, Any]]) -> float | None:
    """The mean score of per-example rows (a failed call's None left out), or None."""
    scores = [r["score"] for r in rows if r["score"] is not None]
    return fmean(scores) if scores else None


class RunService:
    """The engines and run stores of one process, per workspace root, and the steps of a run."""

    def __init__(self) -> None:
        self._engines: dict[Path, Any] = {}
        self._stores: dict[Path, RunStore] = {}
        self._limiters: dict[str, Any] | None = None
        self._backend: Any = None

    def engine(self, root: Path):
        """The engine of ``root`` (its response cache is ``<root>/.promptlsp/cache.sqlite``)."""
        engine = self._engines.get(root)
        if engine is None:
            from ..engine import Engine  # cheap: litellm loads on the first model call

            # one backend and one concurrency limit per model, process-wide
            engine = Engine(cache_path=cache_path(root), backend=self._backend, limiters=self._limiters)
            self._limiters, self._backend = engine.limiters, engine.backend
            self._engines[root] = engine
        return engine

    def store(self, root: Path) -> RunStore:
        """The run store of ``root`` (created when missing; a damaged one is moved aside);
        raises :class:`RunStoreError` when it cannot be opened."""
        store = self._stores.get(root)
        if store is None:
            store = self._stores[root] = RunStore.open(runs_path(root))
        return store

    def open_store(self, root: Path, warn: Warn) -> RunStore | None:
        """:meth:`store`, or None (with a warning) when it cannot be opened: the run goes unrecorded."""
        try:
            return self.store(root)
        except RunStoreError as exc:
            warn(f"run store unavailable ({exc}); the run is not recorded")
            return None

    def plan(self, prompt_file: PromptFile, root: Path, *, method: str | None = None, iterations: int | None = None,
             budget_calls: int | None = None, emit: Callable[[Any], None] | None = None,
             use_cache: bool = True, run_id: str | None = None) -> RunPlan:
        """The optimizer a run asks for and its estimate. ``make_optimizer``'s ValueError or
        TypeError (an unknown method, a bad setting) propagates. An ``emit`` that is a
        :class:`Recorder` is bound to the run's id."""
        from ..optimize import make_optimizer

        budget = with_max_calls(prompt_file.optimize.budget, budget_calls)
        session = self.engine(root).session(budget=budget, use_cache=use_cache)
        optimizer = make_optimizer(prompt_file, session, method=method, emit=emit, iterations=iterations, run_id=run_id)
        if isinstance(emit, Recorder):
            emit.run_id = optimizer.run_id
        return RunPlan(prompt_file, session, budget, optimizer, optimizer.estimate())

    def close(self) -> None:
        """Close every engine and store (the CLI, when its command ends)."""
        for engine in self._engines.values():
            engine.close()
        for store in self._stores.values():
            store.close()
        self._engines.clear()
        self._stores.clear()
