"""What an evaluation produces: per check, per example, per split."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..document.model import PromptText


@dataclass(frozen=True)
class CheckResult:
    """One check on one output. ``score`` is None when it could not be scored (judge failed)."""

    name: str
    type: str
    score: float | None
    passed: bool
    weight: float
    reason: str
    origin: str = "criterion"  # criterion | assert

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "score": self.score, "passed": self.passed,
            "weight": self.weight, "reason": self.reason, "origin": self.origin,
        }


@dataclass(frozen=True)
class ExampleResult:
    example_id: str
    split: str
    vars: dict[str, Any]
    expected: tuple[str, ...] | None
    output: str | None
    checks: tuple[CheckResult, ...] = ()
    error: str | None = None  # why there is no output
    failure: str | None = None  # render (the prompt is broken: scores 0) | call | budget (unscored)
    messages: tuple[dict[str, Any], ...] = ()  # what the task model was sent
    cached: bool = False
    cut_off_at: int | None = None  # the output used all max_tokens (this many): it was cut off

    @property
    def score(self) -> float | None:
        """Weighted mean of the checks' scores (SPEC: "How an example is scored")."""
        if self.output is None:
            return 0.0 if self.failure == "render" else None
        scored = [c for c in self.checks if c.score is not None and c.weight > 0]
        total = sum(c.weight for c in scored)
        if not scored or total <= 0:
            return None
        return sum(c.weight * c.score for c in scored) / total

    @property
    def passed(self) -> bool:
        if self.output is None:
            return False
        return all(c.passed for c in self.checks if c.weight > 0)

    @property
    def perfect(self) -> bool:
        score = self.score
        return score is not None and score >= 1.0 - 1e-9 and self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "example_id": self.example_id, "split": self.split, "vars": self.vars,
            "expected": list(self.expected) if self.expected is not None else None,
            "output": self.output, "score": self.score, "passed": self.passed, "error": self.error,
            "checks": [c.to_dict() for c in self.checks], "cut_off_at": self.cut_off_at,
        }


def format_score(score: float | None, digits: int = 3, missing: str = "n/a") -> str:
    """A score as people read it in tables, messages and hovers."""
    return missing if score is None else f"{score:.{digits}f}"


def mean_score(results: Iterable[ExampleResult]) -> float | None:
    """Mean of the example scores that exist (an unscorable example counts for nothing)."""
    scores = [r.score for r in results if r.score is not None]
    return statistics.fmean(scores) if scores else None


@dataclass(frozen=True)
class EvalReport:
    prompt: PromptText
    results: tuple[ExampleResult, ...]
    complete: bool = True  # False when the budget or a cancellation cut it short
    accounting: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        return mean_score(self.results)

    def split_scores(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for split in ("train", "validation", "test"):
            rows = [r for r in self.results if r.split == split]
            if rows:
                out[split] = {
                    "score": mean_score(rows), "examples": len(rows),
                    "passed": sum(r.passed for r in rows), "errors": sum(r.error is not None for r in rows),
                }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt.to_dict(), "score": self.score, "complete": self.complete,
            "splits": self.split_scores(), "examples": [r.to_dict() for r in self.results],
            "accounting": self.accounting,
        }
