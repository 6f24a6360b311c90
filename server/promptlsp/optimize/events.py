"""The typed events an optimization run yields, in order.

The CLI, the language server and the run store follow a run through this stream alone.
Every event is a frozen dataclass with a ``kind`` and a ``to_dict()`` that is plain JSON.

Order of a run::

    RunStarted
    (per iteration)
        ExampleScored*  GradientComputed*  StepFailed*  SummaryWritten*  CandidateProposed*  CandidateRejected*
        CandidateScored*  BeamUpdated  IterationDone
    CandidateScored* (validation)
    RunFinished   (status: finished | cancelled | budget-exhausted | failed)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..document.model import PromptText  # events carry prompts; re-exported for consumers

Status = Literal["finished", "cancelled", "budget-exhausted", "failed"]
Target = Literal["system", "template"]


@dataclass(frozen=True)
class Critique:
    """One criticism from a gradient summary, anchored on the exact words it quotes.

    ``start``/``end`` are indices into the target string of the candidate the critique is
    about (None when the quote could not be found verbatim — the critique is then kept but not
    anchored). ``examples`` are the ids of the failing examples behind it.
    """

    critique: str
    quote: str
    target: Target = "template"
    start: int | None = None
    end: int | None = None
    suggestion: str = ""
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"examples": list(self.examples)}


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = {"kind": self.kind}
        for f in dataclasses.fields(self):
            data[f.name] = _plain(getattr(self, f.name))
        return data


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run-started"
    run_id: str
    method: str
    file: str | None
    initial: PromptText
    settings: dict[str, Any]
    estimate: dict[str, Any]


@dataclass(frozen=True)
class ExampleScored(Event):
    kind: ClassVar[str] = "example-scored"
    candidate_id: str
    example_id: str
    split: str
    score: float | None
    passed: bool
    output: str | None
    details: tuple[dict[str, Any], ...] = ()  # per check: name, type, score, passed, weight, reason
    error: str | None = None
    inputs_sha: str | None = None  # evaluate.inputs.inputs_sha of the example when it was scored

    @classmethod
    def of(cls, candidate_id: str, result: Any, inputs_sha: str | None = None) -> "ExampleScored":
        """The event of an ``evaluate.results.ExampleResult`` of candidate ``candidate_id``."""
        return cls(candidate_id=candidate_id, example_id=result.example_id, split=result.split, score=result.score,
                   passed=result.passed, output=result.output, details=tuple(c.to_dict() for c in result.checks),
                   error=result.error, inputs_sha=inputs_sha)


@dataclass(frozen=True)
class GradientComputed(Event):
    kind: ClassVar[str] = "gradient"
    candidate_id: str
    example_id: str
    text: str


@dataclass(frozen=True)
class SummaryWritten(Event):
    kind: ClassVar[str] = "summary"
    candidate_id: str
    summary: str
    critiques: tuple[Critique, ...]
    iteration: int = 0


@dataclass(frozen=True)
class CandidateProposed(Event):
    kind: ClassVar[str] = "candidate-proposed"
    candidate_id: str
    parent_id: str | None
    iteration: int
    prompt: PromptText
    origin: str  # initial | edit | tgd-step


@dataclass(frozen=True)
class CandidateRejected(Event):
    kind: ClassVar[str] = "candidate-rejected"
    parent_id: str | None
    iteration: int
    reason: str
    raw: str | None = None


@dataclass(frozen=True)
class StepFailed(Event):
    """A gradient, summary or feedback call that gave no usable answer: recorded, and the run
    goes on without it."""

    kind: ClassVar[str] = "step-failed"
    candidate_id: str
    iteration: int
    phase: str
    message: str
    raw: str | None = None


@dataclass(frozen=True)
class CandidateScored(Event):
    kind: ClassVar[str] = "candidate-scored"
    candidate_id: str
    split: str  # "minibatch" (train subset) or "validation"
    score: float | None
    examples: int
    iteration: int = 0


@dataclass(frozen=True)
class BeamUpdated(Event):
    kind: ClassVar[str] = "beam-updated"
    iteration: int
    beam: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class IterationDone(Event):
    kind: ClassVar[str] = "iteration-done"
    iteration: int
    best_candidate_id: str
    best_score: float | None
    accounting: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run-finished"
    status: Status
    best_candidate_id: str
    best: PromptText
    initial_score: float | None  # on validation (training when there is no validation split)
    best_score: float | None
    scored_on: str  # "validation" or "train"
    accounting: dict[str, Any] = field(default_factory=dict)
    message: str = ""
