"""What the run store's queries return: frozen, plain, JSON-serialisable records (``to_dict()``),
built from ``sqlite3.Row`` by a cattrs converter; and the keys runs are found by.

(Example scores and gradients come back as the ``ExampleScored`` / ``GradientComputed`` events
themselves.)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import cattrs

STATUSES = ("running", "finished", "cancelled", "budget-exhausted", "failed", "interrupted")
RESTORABLE = ("finished", "cancelled", "budget-exhausted", "interrupted")  # what last_run() offers
# Runs that only score the file's own prompt (runs/evaluation.py): no candidates, no critiques,
# so last_run() passes over them.
EVALUATION_ONLY = ("evaluate", "example")
# Runs whose example results are the file's own prompt's: what example_results() reads.
EVALUATIONS = (*EVALUATION_ONLY, "critique")

R = TypeVar("R")


@functools.cache
def converter() -> cattrs.Converter:
    """Builds the records below (and the optimizer's events) from plain data: tuples from lists,
    ``X | None`` unions, nested dataclasses, bools from SQLite's 0/1; JSON objects are kept as
    they are (``json.loads`` made them). Made on the first query, so
    a process that only records runs (``promptlsp optimize``) never imports cattrs."""
    import cattrs

    made = cattrs.Converter(detailed_validation=False)
    made.register_structure_hook_func(lambda hint: hint == dict[str, Any], lambda value, _: value)
    return made


def prompt_sha(system: str | None, template: str) -> str:
    """sha256 (hex) of a prompt's system and template text; ``PromptText.id`` is its first 12 chars."""
    raw = json.dumps([system, template], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_file(file: str | os.PathLike[str]) -> str:
    """The form ``runs.file`` is stored and compared in: absolute, case-folded where the OS is."""
    return os.path.normcase(os.path.abspath(os.fspath(file)))


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class RunRecord(_Record):
    id: str
    file: str | None
    method: str | None
    status: str
    started_at: float
    ended_at: float | None
    updated_at: float
    settings: dict[str, Any] | None
    estimate: dict[str, Any] | None
    accounting: dict[str, Any] | None
    initial: dict[str, Any] | None  # {"system", "template"}
    best: dict[str, Any] | None  # text of best_candidate_id, once known
    prompt_sha: str | None
    best_candidate_id: str | None
    initial_score: float | None
    best_score: float | None
    scored_on: str | None
    iterations: int
    events: int  # how many were recorded
    message: str
    pid: int | None
    host: str | None


@dataclass(frozen=True)
class RunSummary(_Record):
    run: RunRecord
    candidates: int
    rejected: int
    critiques: int
    example_scores: int
    gradients: int


@dataclass(frozen=True)
class CandidateRecord(_Record):
    candidate_id: str
    parent_id: str | None
    iteration: int | None
    system: str | None
    template: str | None
    origin: str | None
    minibatch_score: float | None
    minibatch_examples: int | None
    validation_score: float | None
    validation_examples: int | None
    rejected: bool
    reason: str | None
    raw: str | None


@dataclass(frozen=True)
class CritiqueRecord(_Record):
    candidate_id: str
    iteration: int
    target: str
    quote: str
    critique: str
    suggestion: str
    start: int | None
    end: int | None
    examples: tuple[str, ...]


def columns(record: type, **sources: str) -> str:
    """The SELECT list of ``record``'s fields (quoted: ``start`` and ``end`` are SQL keywords);
    ``sources`` name the column of a field whose column has another name."""
    return ", ".join(
        f'{sources[f.name]} AS "{f.name}"' if f.name in sources else f'"{f.name}"' for f in dataclasses.fields(record)
    )


def from_row(record: type[R], row: sqlite3.Row, *, json_columns: tuple[str, ...] = (), **values: Any) -> R:
    """``record`` from a row selected by :func:`columns`; ``json_columns`` hold JSON text,
    ``values`` replace columns."""
    data = dict(zip(row.keys(), row))
    for name in json_columns:
        if data[name] is not None:
            data[name] = json.loads(data[name])
    data.update(values)
    return converter().structure(data, record)


@dataclass(frozen=True)
class ExampleRecord(_Record):
    """The latest recorded result of one example (:meth:`RunStore.example_results`)."""

    run_id: str
    method: str
    started_at: float
    result: Any  # the ExampleScored event that reported it

