"""Evaluate many prompt files at once: one engine, one session (so one budget and the engine's
per-model concurrency limits over all of them), every file's examples concurrently.

A file that cannot be read or has errors is kept with its reason or diagnostics and counts as
failed; it never stops the others. Each file's calls are counted apart (``accounting.scope``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..document import Analysis, analyze, find_root, read_text
from ..document.model import Example
from ..engine.accounting import scope
from ..evaluate.results import EvalReport, ExampleResult
from .targets import display_name


@dataclass
class FileEval:
    """One prompt file of a batch: why it could not run, or its report."""

    path: Path
    name: str  # as the reports show it: relative to the folder the run started in when below it
    analysis: Analysis | None = None
    error: str | None = None  # it could not be read
    examples: tuple[Example, ...] = ()
    report: EvalReport | None = None
    run_id: str | None = None  # its evaluation's run in the run store (when recorded)
    split: str = "all"  # the split asked for
    accounting: dict[str, Any] = field(default_factory=dict)  # this file's calls, tokens, cost

    @property
    def runnable(self) -> bool:
        return self.analysis is not None and self.analysis.prompt is not None

    @property
    def score(self) -> float | None:
        return self.report.score if self.report else None

    @property
    def results(self) -> tuple[ExampleResult, ...]:
        return self.report.results if self.report else ()

    def gate(self, min_score: float | None) -> bool:
        """Whether this file passes: it ran, and with ``min_score``, every example was scored
        and the mean reaches it (a file without examples in the split then fails)."""
        if not self.runnable:
            return False
        if min_score is None:
            return True
        score = self.score
        return score is not None and score >= min_score and not any(r.score is None for r in self.results)


def load(path: Path, root: Path | None, split: str) -> FileEval:
    """Read and analyse one file; its examples of ``split`` when it has no errors."""
    item = FileEval(path, display_name(path), split=split)
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        item.error = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return item
    item.analysis = analyze(text, path, root or find_root(path))
    if item.analysis.prompt is not None:
        item.examples = item.analysis.prompt.split(split)
    return item


async def evaluate_files(session, items: Sequence[FileEval], *,
                         on_result: Callable[[FileEval, ExampleResult], None] | None = None,
                         store_for: Callable[[FileEval], Any] | None = None, method: str = "evaluate",
                         warn: Callable[[str], None] = lambda _message: None) -> None:
    """Fill in every runnable item's report, all files concurrently in ``session``; each
    evaluation is recorded as a ``method`` run in ``store_for(item)`` (a RunStore, or None:
    unrecorded)."""
    from ..runs.evaluation import EXAMPLE, recorded_evaluation

    async def one(item: FileEval) -> None:
        store = store_for(item) if store_for is not None else None
        with scope(item.name):
            item.run_id, item.report = await recorded_evaluation(
                session, item.analysis.prompt, item.examples, store=store, warn=warn, method=method,
                scored_on=item.examples[0].split if method == EXAMPLE else item.split,
                on_result=None if on_result is None else (lambda r: on_result(item, r)))
        snapshot = session.accounting.snapshot()
        item.accounting = snapshot.get("by_scope", {}).get(item.name, {})

    await asyncio.gather(*(one(item) for item in items if item.runnable and item.examples))
