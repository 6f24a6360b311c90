"""An evaluation of a prompt file's own prompt, recorded in the run store as a run of its own.

``promptlsp/evaluate``, ``promptlsp/runExample`` and ``promptlsp eval`` score the file's prompt
on some of its examples; each such evaluation is a run (method ``evaluate``, or ``example`` for
one example) whose events are a ``RunStarted``, one ``ExampleScored`` per example (with the
example's :func:`~promptlsp.evaluate.inputs.inputs_sha`, so a reader can tell a result that
still applies from a stale one) and a ``RunFinished`` — ``cancelled`` when it was stopped, the
results so far kept. :meth:`RunStore.example_results` reads the latest result of each example
back (the editor's inlay hints). These runs propose nothing: ``last_run`` passes over them.

Model calls go through the caller's session, hence the engine's cache: running an example
again with nothing changed answers from the cache.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, Sequence

from ..document.model import Example, PromptFile
from ..evaluate.inputs import inputs_sha
from ..evaluate.results import EvalReport, ExampleResult
from ..evaluate.runner import evaluate, initial_prompt
from ..optimize.events import ExampleScored, RunFinished, RunStarted
from . import RunStore
from .service import Recorder, Warn

EVALUATE, EXAMPLE = "evaluate", "example"


class UnknownExample(LookupError):
    """No example of the file has the id asked for."""


def find_example(prompt_file: PromptFile, example_id: str) -> Example:
    """The example ``example_id`` of ``prompt_file`` (inline or from a dataset), else UnknownExample."""
    for example in prompt_file.examples:
        if example.id == example_id:
            return example
    raise UnknownExample(f"{prompt_file.name} has no example with id {example_id!r}")


async def recorded_evaluation(session, prompt_file: PromptFile, examples: Sequence[Example], *, store: RunStore | None,
                              warn: Warn, method: str = EVALUATE, scored_on: str = "all",
                              on_result: Callable[[ExampleResult], None] | None = None,
                              emit: Callable[[Any], None] | None = None) -> tuple[str, EvalReport]:
    """Score the file's prompt on ``examples`` through ``session`` and record it in ``store``
    (None: unrecorded); returns (run id, report). A cancellation is recorded, then re-raised."""
    prompt = initial_prompt(prompt_file)
    run_id = f"{method}-{uuid.uuid4().hex[:12]}"
    record = Recorder(warn, *([emit] if emit is not None else []))  # ``emit``: the run worker's stream
    record.store, record.run_id = store, run_id
    by_id = {e.id: e for e in examples}
    record(RunStarted(run_id, method, None if prompt_file.path is None else str(prompt_file.path), prompt,
                      {"examples": len(examples), "scored_on": scored_on}, {}))
    done: list[ExampleResult] = []

    def scored(result: ExampleResult) -> None:
        done.append(result)
        example = by_id.get(result.example_id)
        record(ExampleScored.of(prompt.id, result, inputs_sha(prompt_file, example) if example is not None else None))
        if on_result is not None:
            on_result(result)

    def finished(status: str, score: float | None, message: str) -> None:
        record(RunFinished(status, prompt.id, prompt, score, score, scored_on,  # type: ignore[arg-type]
                           session.accounting.snapshot(), message))

    try:
        report = await evaluate(session, prompt_file, prompt, examples, on_result=scored)
    except asyncio.CancelledError:
        finished("cancelled", EvalReport(prompt, tuple(done)).score, f"cancelled after {len(done)} of {len(examples)}")
        raise
    finished("finished" if report.complete else "budget-exhausted", report.score,
             "" if report.complete else "the budget ran out")
    return run_id, report


async def run_example(session, prompt_file: PromptFile, example_id: str, *, store: RunStore | None,
                      warn: Warn) -> tuple[str, ExampleResult]:
    """The file's prompt on its one example ``example_id`` (UnknownExample when there is none),
    checks applied, recorded as an ``example`` run; returns (run id, its result)."""
    example = find_example(prompt_file, example_id)
    run_id, report = await recorded_evaluation(session, prompt_file, [example], store=store, warn=warn,
                                               method=EXAMPLE, scored_on=example.split)
    return run_id, report.results[0]


def report_payload(report: EvalReport) -> dict[str, Any]:
    """An evaluation's report as the editor gets it: ``EvalReport.to_dict()``, each example with
    whether its answer came from the cache."""
    data = report.to_dict()
    data["examples"] = [{**row, "cached": result.cached} for row, result in zip(data["examples"], report.results)]
    return data
