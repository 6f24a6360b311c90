"""Run a prompt on examples and score every check: the evaluation loop.

Every example runs concurrently (the engine's per-model limit decides how many calls are in
flight). Nothing here raises for a bad answer: a failed task call leaves the example unscored
with the reason, a failed judge leaves that check unscored, and a budget stop marks the report
incomplete — the caller decides what to do with a partial report.

Renders and deterministic checks run in threads of their own small pool (``_work_pool``), never in
asyncio's default executor: the language server analyses documents there, and a run whose regex
checks keep hitting their time limit must not hold up its diagnostics and hovers.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from ..document.model import Criterion, Example, PromptFile
from ..document.template import TemplateRenderError, render
from ..engine import BudgetExhausted, Session
from ..document.model import PromptText
from . import assertions
from .judge import judge
from .results import CheckResult, EvalReport, ExampleResult

OnResult = Callable[[ExampleResult], None]
T = TypeVar("T")

WORK_THREADS = 2
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _work_pool() -> ThreadPoolExecutor:
    """The evaluation's own threads, created on first use and shared by every run."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="promptlsp-evaluate")
        return _pool


async def _in_pool(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_work_pool(), functools.partial(fn, *args))


def initial_prompt(prompt_file: PromptFile) -> PromptText:
    return PromptText(template=prompt_file.template, system=prompt_file.system)


def render_messages(prompt: PromptText, variables: Mapping[str, Any]) -> list[dict[str, str]]:
    """The chat messages for one example (raises TemplateRenderError)."""
    messages = []
    if prompt.system:
        messages.append({"role": "system", "content": render(prompt.system, variables)})
    messages.append({"role": "user", "content": render(prompt.template, variables)})
    return messages


def _checks(prompt_file: PromptFile, example: Example) -> list[tuple[Criterion, str]]:
    return [(c, "criterion") for c in prompt_file.criteria] + [(a, "assert") for a in example.asserts]


async def _check(session: Session, prompt_file: PromptFile, example: Example, output: str, criterion: Criterion, origin: str) -> CheckResult:
    if criterion.uses_judge:
        return await judge(
            session, prompt_file.models.judge, task=prompt_file.task, variables=example.vars, output=output,
            expected=example.expected, name=criterion.name, rubric=criterion.rubric or "", threshold=criterion.threshold,
            weight=criterion.weight, origin=origin,
        )
    # In a worker thread: a check may take up to a regex timeout, and the event loop (the language
    # server's hovers) must not wait for it. The timed regex engine releases the GIL meanwhile.
    outcome = await _in_pool(assertions.check, criterion, output, example.expected)
    return CheckResult(criterion.name, criterion.type, outcome.score, outcome.score >= criterion.threshold,
                       criterion.weight, outcome.reason, origin)


async def score_example(session: Session, prompt_file: PromptFile, prompt: PromptText, example: Example) -> ExampleResult:
    """Render, call the task model, and run every check on one example."""
    base = dict(example_id=example.id, split=example.split, vars=dict(example.vars), expected=example.expected)
    try:
        # off the event loop too: a render is bounded (render_limits), but a bad one can take seconds
        messages = await _in_pool(render_messages, prompt, example.vars)
    except TemplateRenderError as exc:
        return ExampleResult(**base, output=None, error=f"render failed: {exc}", failure="render")
    try:
        answer = await session.complete(prompt_file.models.task, messages, phase="task")
        if not answer.ok or answer.text is None:
            why = answer.failure.message if answer.failure else "no answer"
            return ExampleResult(**base, output=None, error=f"task model call failed: {why}", failure="call",
                                 messages=tuple(messages))
        checks = await asyncio.gather(
            *(_check(session, prompt_file, example, answer.text, c, origin) for c, origin in _checks(prompt_file, example))
        )
    except BudgetExhausted as exc:
        return ExampleResult(**base, output=None, error=f"budget exhausted: {exc}", failure="budget",
                             messages=tuple(messages))
    spec = prompt_file.models.task
    cut_off = spec.max_tokens if spec.cut_off(answer.usage.completion_tokens) else None
    return ExampleResult(**base, output=answer.text, checks=tuple(checks), messages=tuple(messages), cached=answer.cached,
                         cut_off_at=cut_off)


async def evaluate(
    session: Session,
    prompt_file: PromptFile,
    prompt: PromptText | None = None,
    examples: Sequence[Example] | None = None,
    *,
    on_result: OnResult | None = None,
) -> EvalReport:
    """Score ``prompt`` (default: the file's own) on ``examples`` (default: all of them)."""
    prompt = prompt or initial_prompt(prompt_file)
    chosen: Iterable[Example] = prompt_file.examples if examples is None else examples

    async def one(example: Example) -> ExampleResult:
        result = await score_example(session, prompt_file, prompt, example)
        if on_result is not None:
            on_result(result)
        return result

    results = await asyncio.gather(*(one(e) for e in chosen))
    complete = not any(r.failure == "budget" for r in results)
    return EvalReport(prompt, tuple(results), complete, session.accounting.snapshot())
