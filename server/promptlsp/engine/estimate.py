"""Predict calls, tokens and cost of a planned run before starting it.

Used by the CLI (dry runs) and the editor (the "this will cost…" prompt), by the optimizers to
decide what still fits the budget, and by the session to reserve budget before each call.

Plans (:class:`PlannedCalls`) count tokens with a cheap heuristic (~4 characters a token),
always: a plan must be the same in every process — whether or not an earlier call has imported
litellm — or a rerun could decide differently and miss the cache its first run filled, and
planning must never pay litellm's multi-second import nor its tokenizer's first load.
:func:`count_tokens` — for a call actually being made — uses litellm's counter once the engine
has loaded litellm *and* its tokenizer (:func:`use_litellm_counter`, called from the thread that
imports litellm), the heuristic until then: the tokenizer's first load (0.3–0.9 s) never happens
on the caller's thread (an event loop's, in the session's reservations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import pricing
from .messages import message_text
from .spec import Budget, ModelSpec

DEFAULT_COMPLETION_TOKENS = 512  # planning value when a spec sets no max_tokens
_TOKENS_PER_MESSAGE = 4  # role and separators
_litellm_counter: Any = None  # litellm.token_counter, tokenizer loaded (see use_litellm_counter)


def use_litellm_counter(counter: Any) -> None:
    """Count with ``counter`` (``litellm.token_counter``) from now on. Called once litellm is
    fully imported and ``counter`` has counted once (its tokenizer is loaded)."""
    global _litellm_counter
    _litellm_counter = counter


def _heuristic(text: str) -> int:
    return math.ceil(len(text) / 4)


def heuristic_tokens(messages_or_text: list[dict] | str) -> int:
    """~4 characters a token: cheap, and the same whether or not litellm is imported."""
    if isinstance(messages_or_text, str):
        return _heuristic(messages_or_text)
    return sum(_TOKENS_PER_MESSAGE + _heuristic(message_text(m)) for m in messages_or_text)


def count_tokens(spec: ModelSpec | str, messages_or_text: list[dict] | str) -> int:
    """Prompt tokens of a message list or a plain text for ``spec``'s model."""
    model = spec.model if isinstance(spec, ModelSpec) else spec
    counter = _litellm_counter
    if counter is not None and not model.startswith("local/"):
        try:
            if isinstance(messages_or_text, str):
                return int(counter(model=model, text=messages_or_text))
            return int(counter(model=model, messages=messages_or_text))
        except Exception:  # litellm's counter may not know the model: fall back
            pass
    return heuristic_tokens(messages_or_text)


def completion_allowance(spec: ModelSpec) -> int:
    """Completion tokens to plan (and reserve) for one call of ``spec``."""
    return spec.max_tokens if spec.max_tokens is not None else DEFAULT_COMPLETION_TOKENS


@dataclass(frozen=True)
class PlannedCalls:
    """``calls`` calls of ``spec``, each with about ``prompt_tokens`` in and
    ``completion_tokens`` out (per call, not totals)."""

    spec: ModelSpec
    calls: int
    prompt_tokens: int
    completion_tokens: int
    phase: str = "task"

    @classmethod
    def for_messages(cls, spec: ModelSpec, calls: int, messages: list[dict] | str, phase: str = "task") -> "PlannedCalls":
        """Plan ``calls`` calls shaped like ``messages``, completions at the spec's cap (tokens
        by the heuristic: see the module docstring)."""
        return cls(spec, calls, heuristic_tokens(messages), completion_allowance(spec), phase)


@dataclass
class Estimate:
    """Predicted totals; ``cost_usd`` is None when some model's price is unknown (those models
    are listed in ``unpriced``)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    by_phase: dict[str, "Estimate"] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def _add(self, calls: int, prompt: int, completion: int, cost: float | None, model: str) -> None:
        self.calls += calls
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost
        if cost is None and model not in self.unpriced:
            self.unpriced.append(model)

    def usd_unenforced(self, budget: Budget | None) -> str | None:
        """Why the budget's ``max_usd`` cannot be enforced for this plan, or None."""
        if budget is None or budget.max_usd is None or not self.unpriced:
            return None
        return f"max_usd = {budget.max_usd:g} cannot be enforced: litellm has no price for {', '.join(self.unpriced)}"

    def exceeds(self, budget: Budget | None) -> str | None:
        """The first budget limit this plan would pass (``"max_calls"``…), or None. A ``max_usd``
        that is the only limit counts as passed when a model's price is unknown: nothing would
        stop the run (the session refuses those calls too)."""
        if budget is None:
            return None
        if budget.max_calls is None and budget.max_tokens is None and self.usd_unenforced(budget):
            return "max_usd"
        if budget.max_calls is not None and self.calls > budget.max_calls:
            return "max_calls"
        if budget.max_tokens is not None and self.tokens > budget.max_tokens:
            return "max_tokens"
        if budget.max_usd is not None and self.cost_usd is not None and self.cost_usd > budget.max_usd:
            return "max_usd"
        return None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
        }
        if self.unpriced:
            out["unpriced_models"] = list(self.unpriced)
        if self.by_phase:
            out["by_phase"] = {phase: e.as_dict() for phase, e in self.by_phase.items()}
        return out


def estimate(planned: Iterable[PlannedCalls]) -> Estimate:
    """Sum a plan: totals and per phase."""
    total = Estimate()
    for item in planned:
        prompt = item.calls * item.prompt_tokens
        completion = item.calls * item.completion_tokens
        cost = pricing.cost_usd(item.spec.model, prompt, completion)
        total._add(item.calls, prompt, completion, cost, item.spec.model)
        total.by_phase.setdefault(item.phase, Estimate())._add(item.calls, prompt, completion, cost, item.spec.model)
    return total
