"""The model engine: async litellm calls with concurrency limits, retries, structured answers,
a persistent cache, accounting and budgets. Nothing here imports litellm until a real call.

Typical use::

    engine = Engine(cache_path=workspace / ".promptlsp" / "cache.sqlite")
    session = engine.session(budget=Budget(max_calls=500))
    result = await session.complete(ModelSpec(model="openai/gpt-4o-mini"), messages, phase="task")

The names below are loaded on first use (PEP 562): ``import promptlsp.engine.spec`` — what the
document layer needs to describe a file's models — must not pay for the session, the cache,
jsonschema and asyncio (~0.15–0.3 s), which ``promptlsp check`` never uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

_EXPORTS = {
    "Accounting": "accounting", "Totals": "accounting", "Usage": "accounting",
    "Backend": "backend", "BackendCaps": "backend", "make_response": "backend",
    "Engine": "core",
    "BackendError": "errors", "BudgetExhausted": "errors", "PermanentError": "errors", "TransientError": "errors",
    "CallFailure": "results", "CallResult": "results",
    "RetryPolicy": "retry",
    "ScriptedBackend": "scripted",
    "Session": "session",
    "DEFAULT_MODEL": "spec", "Budget": "spec", "ModelSpec": "spec",
}
# Bound now: a lazy ``estimate`` would lose to the submodule of the same name, which the import
# system sets as this package's attribute when it is first loaded. (It is light: no asyncio.)
from .estimate import Estimate, PlannedCalls, count_tokens, estimate  # noqa: E402

__all__ = sorted([*_EXPORTS, "Estimate", "PlannedCalls", "count_tokens", "estimate"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from .accounting import Accounting, Totals, Usage
    from .backend import Backend, BackendCaps, make_response
    from .core import Engine
    from .errors import BackendError, BudgetExhausted, PermanentError, TransientError
    from .results import CallFailure, CallResult
    from .retry import RetryPolicy
    from .scripted import ScriptedBackend
    from .session import Session
    from .spec import DEFAULT_MODEL, Budget, ModelSpec
