"""What one recorded run did, gathered for people to read: :func:`build_report`.

From the run store alone (the run's row, its candidates and its event stream): the score of
every candidate each time it was scored (the chart's points: iteration, split, score), the best
validation score after each iteration, the critiques (each summary with its anchored critiques,
each gradient, each step that failed), the winning prompt's diff against the initial one, and
calls / tokens / cost / time per phase from the run's last accounting.

:func:`find_run` turns a run id or an unambiguous prefix of one into the run. Rendering (HTML
with an inline SVG chart, or text) is :mod:`promptlsp.runs.report_render`'s; nothing here
formats for a terminal or a page.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .errors import RunStoreError
from .records import CandidateRecord, RunRecord
from .store import RunStore


class RunNotFound(LookupError):
    """No run, or more than one, matches the id given; the message says which."""


@dataclass(frozen=True)
class ScorePoint:
    """One score of one candidate: on the minibatch (part of train) or on validation."""

    iteration: int
    split: str  # "minibatch" | "validation"
    score: float
    candidate_id: str
    origin: str  # initial | edit | tgd-step | … ("" when unknown)
    winner: bool  # the run's best candidate


@dataclass(frozen=True)
class Summary:
    iteration: int
    candidate_id: str
    summary: str
    critiques: tuple[dict[str, Any], ...]  # target, quote, critique, suggestion


@dataclass(frozen=True)
class Gradient:
    iteration: int
    candidate_id: str
    example_id: str
    text: str


@dataclass(frozen=True)
class Failure:
    iteration: int
    phase: str
    message: str


@dataclass(frozen=True)
class Phase:
    """Accounting of one phase (``task``, ``judge``, ``gradient``…) or of the whole run."""

    name: str
    calls: int
    cache_hits: int
    failures: int
    tokens: int
    cost_usd: float | None
    wall_s: float

    @classmethod
    def of(cls, name: str, row: dict[str, Any]) -> Phase:
        tokens = row.get("tokens", row.get("prompt_tokens", 0) + row.get("completion_tokens", 0))
        return cls(name, int(row.get("calls", 0)), int(row.get("cache_hits", 0)), int(row.get("failures", 0)),
                   int(tokens), row.get("cost_usd"), float(row.get("wall_s", 0.0)))


@dataclass(frozen=True)
class RunReport:
    run: RunRecord
    points: tuple[ScorePoint, ...]  # in the order they were scored
    best_by_iteration: tuple[tuple[int, float], ...]  # (iteration, best score) after each iteration
    summaries: tuple[Summary, ...]
    gradients: tuple[Gradient, ...]
    failures: tuple[Failure, ...]
    rejected: tuple[CandidateRecord, ...]
    diff: str  # unified diff of the initial prompt against the best one ("" when unchanged)
    phases: tuple[Phase, ...]
    total: Phase | None
    elapsed_s: float | None

    @property
    def iterations(self) -> int:
        """Iterations done (the final validation of the finalists is scored after the last)."""
        return max([self.run.iterations, *(p.iteration for p in self.points if p.split == "minibatch")], default=0)


def find_run(store: RunStore, run_id: str) -> RunRecord:
    """The run whose id is ``run_id`` or starts with it; :class:`RunNotFound` when none or
    several do."""
    if not run_id:
        raise RunNotFound("give a run id (promptlsp runs lists them)")
    summary = store.run(run_id)
    if summary is not None:
        return summary.run
    ids = store.run_ids(run_id)
    if not ids:
        raise RunNotFound(f"no run {run_id!r} in {store.path} (promptlsp runs lists them)")
    if len(ids) > 1:
        raise RunNotFound(f"run id {run_id!r} is ambiguous: it starts {', '.join(ids)}")
    found = store.run(ids[0])
    if found is None:  # deleted in between
        raise RunNotFound(f"no run {run_id!r} in {store.path}")
    return found.run


def prompt_diff(initial: dict[str, Any] | None, best: dict[str, Any] | None) -> str:
    """A unified diff of the prompt's system and template strings, initial → best."""
    if not initial or not best:
        return ""
    parts = []
    for key in ("system", "template"):
        old, new = initial.get(key) or "", best.get(key) or ""
        if old != new:
            parts.extend(difflib.unified_diff(_lines(old), _lines(new), fromfile=f"initial {key}", tofile=f"best {key}"))
    return "".join(parts)


def _lines(text: str) -> list[str]:
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines(keepends=True)]


def build_report(store: RunStore, run_id: str) -> RunReport:
    """The :class:`RunReport` of ``run_id`` (an id or an unambiguous prefix); raises
    :class:`RunNotFound` or :class:`RunStoreError`."""
    run = find_run(store, run_id)
    candidates = store.candidates(run.id)
    origin = {c.candidate_id: c.origin or "" for c in candidates}
    points: list[ScorePoint] = []
    best: list[tuple[int, float]] = []
    summaries: list[Summary] = []
    gradients: list[Gradient] = []
    failures: list[Failure] = []
    iteration = 0  # events without their own iteration belong to the one in progress
    for _seq, _ts, data in store.events(run.id):
        kind = data.get("kind")
        if kind == "candidate-scored" and data.get("score") is not None:
            split = "validation" if data.get("split") == "validation" else "minibatch"
            cid = data["candidate_id"]
            points.append(ScorePoint(int(data.get("iteration") or 0), split, float(data["score"]), cid,
                                     origin.get(cid, ""), cid == run.best_candidate_id))
        elif kind == "iteration-done":
            iteration = int(data["iteration"])
            if data.get("best_score") is not None:
                best.append((iteration, float(data["best_score"])))
        elif kind == "summary":
            summaries.append(Summary(int(data.get("iteration") or 0), data["candidate_id"], data.get("summary") or "",
                                     tuple(data.get("critiques") or ())))
        elif kind == "gradient":
            gradients.append(Gradient(iteration + 1, data["candidate_id"], data["example_id"], data.get("text") or ""))
        elif kind == "step-failed":
            failures.append(Failure(int(data.get("iteration") or 0), data.get("phase") or "", data.get("message") or ""))
    accounting = run.accounting or {}
    phases = tuple(Phase.of(name, row) for name, row in (accounting.get("by_phase") or {}).items())
    total = Phase.of("total", accounting["total"]) if accounting.get("total") else None
    elapsed = (run.ended_at or run.updated_at) - run.started_at if run.started_at else None
    return RunReport(run, tuple(points), tuple(best), tuple(summaries), tuple(gradients), tuple(failures),
                     tuple(c for c in candidates if c.rejected), prompt_diff(run.initial, run.best), phases, total,
                     elapsed)


__all__ = ["RunNotFound", "RunReport", "RunStoreError", "ScorePoint", "build_report", "find_run", "prompt_diff"]
