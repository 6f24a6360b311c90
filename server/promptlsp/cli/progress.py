"""Live progress lines of ``eval`` and ``optimize`` on stderr.

The optimize line says where the run is — ``iteration 2/5 · critiquing · 41 calls (12 cached) ·
best 0.750`` — and its clock keeps running until the run ends, final validation included. The
step comes from the calls in flight (the session's accounting knows their phases), so it is
right even while a slow first call has produced no event yet; iteration and best score come
from the optimizer's events (optimize/events.py).
"""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn,
)
from rich.text import Text

from ..evaluate.results import format_score
from .words import plural

# What a call of each phase is doing, in words (task/judge: evaluate; gradient, summary and
# feedback: critique; edit and step: rewrite).
STEPS = {"task": "evaluating", "judge": "evaluating", "gradient": "critiquing", "summary": "critiquing",
         "feedback": "critiquing", "edit": "rewriting", "step": "rewriting"}
REFRESH_PER_SECOND = 2  # the clock and the call count move between events


class LiveText(ProgressColumn):
    """A column whose text is computed at every refresh."""

    def __init__(self, text: Callable[[], str]) -> None:
        super().__init__()
        self._text = text

    def render(self, task: Task) -> Text:
        return Text(self._text())


def calls_text(accounting) -> str:
    """``41 calls (12 cached) · $0.0123`` from a session's accounting, as it is now."""
    total = accounting.total
    text = plural(total.calls, "call")
    if total.cache_hits:
        text += f" ({total.cache_hits} cached)"
    if total.cost_usd:
        text += f" · ${total.cost_usd:.4f}"
    return text


def _progress(console: Console, disable: bool, *columns: ProgressColumn, transient: bool = False) -> Progress:
    return Progress(*columns, TimeElapsedColumn(), console=console, transient=transient, disable=disable,
                    refresh_per_second=REFRESH_PER_SECOND)


class OptimizeProgress:
    """The optimize command's progress line; feed it every event with :meth:`on_event`."""

    def __init__(self, console: Console, session, method: str, iterations: int, *, disable: bool) -> None:
        self.session = session
        self.iterations = iterations
        self.iteration = 0  # 0: not started; iterations + 1: final validation
        self.step = "starting"
        self.best: float | None = None
        self.finished: str | None = None  # the run's status once it ended
        self.progress = _progress(console, disable, SpinnerColumn(), TextColumn("[bold]{task.description}"),
                                  BarColumn(), LiveText(self.status))
        self._method = method
        self._bar = None

    def __enter__(self) -> "OptimizeProgress":
        self.progress.__enter__()
        # one step per iteration and one for the final validation: the clock runs until the end
        self._bar = self.progress.add_task(self._method, total=self.iterations + 1)
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def current_step(self) -> str:
        if self.finished is not None:
            return self.finished
        if self.iteration > self.iterations:
            return "validating"
        steps = dict.fromkeys(STEPS.get(phase, phase) for phase in self.session.accounting.active_phases())
        return " + ".join(steps) if steps else self.step

    def status(self) -> str:
        parts = []
        if self.finished is None and 1 <= self.iteration <= self.iterations:
            parts.append(f"iteration {self.iteration}/{self.iterations}")
        parts += [self.current_step(), calls_text(self.session.accounting)]
        if self.best is not None:
            parts.append(f"best {format_score(self.best)}")
        return " · ".join(parts)

    def on_event(self, event) -> None:
        kind = event.kind
        if kind == "run-started":
            self.iteration, self.step = 1, "evaluating"
        elif kind in ("example-scored", "candidate-scored"):
            self.step = "evaluating"
            if kind == "candidate-scored" and event.iteration > self.iterations:
                self._validating()
        elif kind in ("gradient", "summary"):
            self.step = "critiquing"
        elif kind in ("candidate-proposed", "candidate-rejected"):
            self.step = "rewriting"
        elif kind == "iteration-done":
            if event.best_score is not None:  # a last iteration's candidates are scored in the final validation
                self.best = event.best_score
            self.iteration = event.iteration + 1
            self.progress.update(self._bar, completed=event.iteration)
            if self.iteration > self.iterations:
                self._validating()
        elif kind == "run-finished":
            self.finished = event.status
            self.progress.update(self._bar, completed=self.iterations + 1)
        self.progress.refresh()

    def _validating(self) -> None:
        self.iteration = self.iterations + 1
        self.step = "validating"


def eval_progress(console: Console, session, *, disable: bool) -> Progress:
    """The eval command's bar: examples done of all, calls so far, a clock."""
    return _progress(console, disable, SpinnerColumn(), TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(),
                     LiveText(lambda: calls_text(session.accounting)), transient=True)
