"""Core diagnostics → LSP diagnostics."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from ..document import Analysis
from ..document import Diagnostic as CoreDiagnostic
from ..document.source import Encoding
from .positions import to_lsp_range

SOURCE = "promptlsp"

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def _file_uri(path: Path) -> str:
    return path.resolve().as_uri()


def to_lsp(analysis: Analysis, uri: str, encoding: Encoding) -> list[types.Diagnostic]:
    return [_one(analysis, d, uri, encoding) for d in analysis.diagnostics]


def _one(analysis: Analysis, d: CoreDiagnostic, uri: str, encoding: Encoding) -> types.Diagnostic:
    related: list[types.DiagnosticRelatedInformation] = []
    for rel in d.related:
        if rel.file is not None:
            line = max((rel.line or 1) - 1, 0)
            pos = types.Position(line=line, character=0)
            location = types.Location(uri=_file_uri(rel.file), range=types.Range(start=pos, end=pos))
        elif rel.span is not None:
            location = types.Location(uri=uri, range=to_lsp_range(analysis.source, rel.span, encoding))
        else:
            continue
        related.append(types.DiagnosticRelatedInformation(location=location, message=rel.message))
    return types.Diagnostic(
        range=to_lsp_range(analysis.source, d.span, encoding),
        message=d.message,
        severity=_SEVERITY.get(d.severity, types.DiagnosticSeverity.Error),
        code=d.code,
        source=SOURCE,
        related_information=related or None,
    )
