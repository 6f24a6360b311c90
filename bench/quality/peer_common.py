"""What the peer runners (textgrad_runner.py, dspy_runner.py) share. Standard library only: it
runs inside the peers' own venvs, never promptlsp's.

A runner is started by ``bench/quality.py`` as ``python RUNNER CONFIG.json`` and prints JSON lines
on stdout: ``{"event": "progress", ...}`` while it runs and one ``{"event": "done", "system": …}``
at the end (or ``{"event": "failed", "error": …}``). CONFIG holds the task (initial system prompt,
constraints), both models (an OpenAI-compatible base URL — the counting proxy — and a dummy key),
the train and validation examples with each example's answer regex (and its check's name: "label only"
when the whole response must be the label, else the response ends with an ``Answer:`` line), the
call budget, the seed and the iteration limit.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any


class BudgetStop(Exception):
    """The next call would exceed the run's call budget."""


def budget_stop_in(exc: BaseException) -> BudgetStop | None:
    """The BudgetStop behind ``exc``, if any: peers wrap their model calls in retries (textgrad
    in tenacity, whose RetryError keeps the last attempt) and re-raise with a cause or context."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, BudgetStop):
            return current
        attempt = getattr(current, "last_attempt", None)  # tenacity.RetryError
        if attempt is not None and hasattr(attempt, "exception"):
            try:
                stack.append(attempt.exception())
            except Exception:  # an attempt that was cancelled has no exception to give
                pass
        stack.extend([current.__cause__, current.__context__])
    return None


class CallBudget:
    """Counts the calls a runner sends and refuses the one that would pass the budget.

    The authoritative count is the proxy's (bench/quality.py compares both); this one lets the
    runner stop itself: loops check :meth:`fits` before an iteration, and :meth:`take` is the
    hard stop inside the model wrapper."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.refused = 0
        self._lock = threading.Lock()

    def fits(self, calls: int) -> bool:
        with self._lock:
            return self.used + calls <= self.limit

    def take(self, calls: int = 1) -> None:
        with self._lock:
            if self.used + calls > self.limit:
                self.refused += 1
                raise BudgetStop(f"call budget of {self.limit} reached ({self.used} used)")
            self.used += calls


def load_config(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def emit(**fields: Any) -> None:
    print(json.dumps(fields, default=str), flush=True)


def passes(example: dict[str, Any], output: str | None) -> bool:
    """The example's exact-match check: the same regex promptlsp's scorer applies (re.search)."""
    return output is not None and re.search(example["regex"], output) is not None


def last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


LABEL_CHECK = "label only"  # the check's name in the label tasks (make_tasks.py): the whole response is the label


def whole_reply(example: dict[str, Any]) -> bool:
    """Whether the example's check wants the whole response to be the answer (the label tasks),
    not a final ``Answer:`` line."""
    return example.get("check") == LABEL_CHECK


def check_description(example: dict[str, Any]) -> str:
    """What the exact-match check wants, for textgrad's loss function."""
    if whole_reply(example):
        return ("checks that the whole response is exactly the correct label, with nothing else (exact match; "
                "1 = correct, 0 = wrong)")
    return "checks that the response ends with the final line 'Answer: <the correct answer>' (exact match; 1 = correct, 0 = wrong)"


def feedback(example: dict[str, Any], output: str | None) -> str:
    """A short verdict for the peers that read text feedback (GEPA's metric)."""
    expected = example["expected"]
    if whole_reply(example):
        if passes(example, output):
            return f"Correct: the response is exactly the label '{expected[-1]}'."
        return (f"Incorrect. The correct answer is {' / '.join(expected)}; the whole response must be exactly "
                f"'{expected[-1]}', with nothing else. The response was: {(output or '').strip()[:200]!r}.")
    if passes(example, output):
        return f"Correct: the response ends with the right final line 'Answer: {expected[-1]}'."
    return (f"Incorrect. The correct answer is {' / '.join(expected)}; the response must end with the final line "
            f"'Answer: {expected[-1]}'. The response's last line was: {last_line(output)[:200]!r}.")


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def run_main(body) -> int:
    """Run ``body(config)``; report an exception as a ``failed`` line instead of a traceback only."""
    config = load_config(sys.argv[1])
    try:
        body(config)
    except Exception as exc:  # reported to bench/quality.py, which records the row as failed
        import traceback

        traceback.print_exc(file=sys.stderr)
        emit(event="failed", error=f"{type(exc).__name__}: {exc}"[:500])
        return 1
    return 0
