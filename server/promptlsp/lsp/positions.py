"""Offsets ↔ LSP positions in the negotiated position encoding (via :class:`SourceText`)."""

from __future__ import annotations

from lsprotocol import types

from ..document import Position, SourceText, Span
from ..document.source import Encoding

_ENCODINGS: dict[str, Encoding] = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-32": "utf-32"}


def encoding_of(kind: object) -> Encoding:
    """The document layer's name for a negotiated ``PositionEncodingKind`` (default UTF-16)."""
    value = getattr(kind, "value", kind)
    return _ENCODINGS.get(str(value).lower(), "utf-16")


def to_lsp_range(source: SourceText, span: Span, encoding: Encoding) -> types.Range:
    r = source.range(span, encoding)
    return types.Range(
        start=types.Position(line=r.start.line, character=r.start.character),
        end=types.Position(line=r.end.line, character=r.end.character),
    )


def range_json(source: SourceText, span: Span, encoding: Encoding) -> dict:
    """A range as its JSON, for answers too large to build as lsprotocol objects (thousands of
    ranges: each object's validation and conversion cost more than the whole answer's JSON)."""
    r = source.range(span, encoding)
    return {"start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character}}


def to_offset(source: SourceText, position: types.Position, encoding: Encoding) -> int:
    return source.offset(Position(position.line, position.character), encoding)
