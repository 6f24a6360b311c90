"""The model engine: async litellm calls with concurrency limits, retries, structured answers,
a persistent cache, accounting and budgets. Nothing here imports litellm until a real call.

Typical use::

    engine = Engine(cache_path=workspace / ".promptlsp" / "cache.sqlite")
    session = engine.session(budget=Budget(max_calls=500))
    result = await session.complete(ModelSpec(model="openai/gpt-4o-mini"), messages, phase="task")
"""

from .accounting import Accounting, Totals, Usage
from .backend import Backend, BackendCaps, make_response
from .core import Engine
from .errors import BackendError, BudgetExhausted, PermanentError, TransientError
from .estimate import Estimate, PlannedCalls, count_tokens, estimate
from .results import CallFailure, CallResult
from .retry import RetryPolicy
from .scripted import ScriptedBackend
from .session import Session
from .spec import DEFAULT_MODEL, Budget, ModelSpec

__all__ = [
    "Accounting", "Backend", "BackendCaps", "BackendError", "Budget", "BudgetExhausted", "CallFailure",
    "CallResult", "DEFAULT_MODEL", "Engine", "Estimate", "ModelSpec", "PermanentError", "PlannedCalls",
    "RetryPolicy", "ScriptedBackend", "Session", "Totals", "TransientError", "Usage", "count_tokens",
    "estimate", "make_response",
]
