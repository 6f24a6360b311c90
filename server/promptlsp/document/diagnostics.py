"""Diagnostics: what is wrong with a prompt file, where, and how bad.

Every diagnostic carries a stable ``code`` (listed in prompts-spec/SPEC.md, "Diagnostics") so
that editors, CI logs and tests can refer to it; the message may improve over time, the code
does not change.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

from .source import Span

Severity = Literal["error", "warning", "information", "hint"]

# code -> default severity. The single list of codes the validator may emit.
CODES: dict[str, Severity] = {
    "toml-syntax": "error",
    "file-too-complex": "error",
    "schema": "error",
    "version-unsupported": "error",
    "assertion-unknown": "error",
    "template-syntax": "error",
    "template-var-missing": "error",
    "example-var-unused": "warning",
    "example-duplicate": "warning",
    "example-id-duplicate": "error",
    "expected-missing": "error",
    "examples-none": "error",
    "split-no-validation": "information",
    "dataset-missing": "error",
    "dataset-unreadable": "error",
    "dataset-malformed": "error",
    "dataset-outside-root": "error",
}


@dataclass(frozen=True)
class Related:
    """A second place that explains a diagnostic: in this file (``span``) or another (``file``)."""

    message: str
    span: Span | None = None
    file: Path | None = None
    line: int | None = None  # 1-based line in ``file``


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    severity: Severity = field(default="error")
    related: tuple[Related, ...] = ()

    @classmethod
    def of(cls, code: str, message: str, span: Span, related: Iterable[Related] = ()) -> "Diagnostic":
        """A diagnostic with the code's default severity."""
        return cls(code, message, span, CODES[code], tuple(related))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)
