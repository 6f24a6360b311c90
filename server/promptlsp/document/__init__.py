"""The `.prompt.toml` document layer: parse, exact source ranges, schema, templates, validation.

Plain Python — no LSP, no litellm. ``analyze`` is the entry point; ``Analysis.prompt`` is the
typed :class:`~promptlsp.document.model.PromptFile` when the file has no errors.
"""

from .analysis import Analysis, analyze, find_root, read_text
from .diagnostics import CODES, Diagnostic, Related
from .source import Position, Range, SourceText, Span

__all__ = [
    "Analysis", "analyze", "find_root", "read_text", "CODES", "Diagnostic", "Related",
    "Position", "Range", "SourceText", "Span",
]
