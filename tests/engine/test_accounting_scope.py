"""Accounting scopes: one session (one budget) over several jobs, each job's calls counted apart,
including the calls of the tasks a job starts."""

import asyncio

from promptlsp.engine import Budget, BudgetExhausted, Engine, ModelSpec, ScriptedBackend
from promptlsp.engine.accounting import scope

SPEC = ModelSpec(model="openai/scripted")


async def test_each_scope_counts_its_own_calls_and_the_budget_is_shared():
    session = Engine(cache_path=None, backend=ScriptedBackend("ok", latency=0.01)).session(budget=Budget(max_calls=5))

    async def job(name: str, calls: int):
        with scope(name):
            return await asyncio.gather(*(session.complete(SPEC, f"{name} {i}") for i in range(calls)),
                                        return_exceptions=True)

    a, b = await asyncio.gather(job("a", 2), job("b", 4))
    snapshot = session.accounting.snapshot()
    assert snapshot["by_scope"]["a"]["calls"] + snapshot["by_scope"]["b"]["calls"] == snapshot["total"]["calls"] == 5
    assert snapshot["by_scope"]["a"]["calls"] <= 2 and snapshot["by_scope"]["b"]["calls"] <= 4
    assert sum(isinstance(r, BudgetExhausted) for r in [*a, *b]) == 1  # one budget: the sixth call refused


async def test_without_a_scope_nothing_changes():
    session = Engine(cache_path=None, backend=ScriptedBackend("ok")).session()
    await session.complete(SPEC, "x")
    assert "by_scope" not in session.accounting.snapshot() and session.accounting.total.calls == 1
