"""Where a finding is in the files: a diagnostic's span, or the place of a failing example —
its failing assert, else its ``id``, in the prompt file; the line of a dataset file for an
example read from one. Formats turn a :class:`Place` into their own line/column units."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..document import Analysis, Diagnostic, SourceText, Span
from ..evaluate.results import ExampleResult


@dataclass(frozen=True)
class Place:
    path: Path
    source: SourceText | None = None  # with span: an exact range in this text
    span: Span | None = None
    line: int = 1  # 1-based; the whole line when there is no span

    def lines(self) -> tuple[int, int]:
        """First and last line, 1-based."""
        if self.source is None or self.span is None:
            return self.line, self.line
        found = self.source.range(self.span, "utf-16")
        return found.start.line + 1, found.end.line + 1

    def columns(self, encoding: str) -> tuple[int, int] | None:
        """1-based start column and end column one past the last character (SARIF's and
        GitHub's convention), in ``encoding``'s units; None for a whole line."""
        if self.source is None or self.span is None:
            return None
        found = self.source.range(self.span, encoding)
        return found.start.character + 1, found.end.character + 1


def diagnostic_place(analysis: Analysis, diagnostic: Diagnostic) -> Place:
    return Place(analysis.path or Path(""), analysis.source, diagnostic.span)


def failing_check(result: ExampleResult):
    """The first weighted check that failed (None when the example failed for want of output)."""
    return next((c for c in result.checks if not c.passed and c.weight > 0), None)


def failure_reason(result: ExampleResult) -> str:
    """Why an example failed, in one line: its error or its first failing check's reason."""
    if result.error:
        return result.error
    check = failing_check(result)
    return f"{check.name}: {check.reason}" if check else ""


def example_place(analysis: Analysis, result: ExampleResult) -> Place:
    """The place of an example's failure in the prompt file (or its dataset file)."""
    prompt = analysis.prompt
    path = analysis.path or Path("")
    example = next((e for e in prompt.examples if e.id == result.example_id), None) if prompt else None
    if example is None:
        return Place(path)
    origin = example.origin
    if origin.file is not None:
        return Place(origin.file, line=origin.line or 1)
    nodes = analysis.spans.nodes if analysis.spans else {}
    check = failing_check(result)
    candidates = []
    if check is not None and check.origin == "assert":
        candidates += [a.path for a in example.asserts if a.name == check.name and a.path]
    candidates += [(*origin.path, "id"), origin.path]
    for key in candidates:
        node = nodes.get(tuple(key))
        if node is not None:
            span = node.value if node.kind != "table" or node.key is None else node.key
            return Place(path, analysis.source, span)
    return Place(path)
