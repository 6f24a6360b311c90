"""Document symbols (the outline) and folding ranges of a prompt file, from ``document.outline``."""

from __future__ import annotations

import weakref
from typing import Iterable

from lsprotocol import types

from ..document import Analysis
from ..document import outline as outline_module
from ..document.source import Encoding
from .features import Handler
from .positions import range_json
from .protocol import PlainJSON
from .server import PromptLanguageServer

_KINDS = {
    "prompt": types.SymbolKind.Module,
    "string": types.SymbolKind.String,
    "models": types.SymbolKind.Namespace,
    "model": types.SymbolKind.Constant,
    "criteria": types.SymbolKind.Array,
    "criterion": types.SymbolKind.Property,
    "examples": types.SymbolKind.Array,
    "split": types.SymbolKind.Namespace,
    "example": types.SymbolKind.Object,
    "datasets": types.SymbolKind.Array,
    "dataset": types.SymbolKind.File,
}


def document_symbols(analysis: Analysis, encoding: Encoding) -> PlainJSON:
    """The outline as ``DocumentSymbol[]`` in its JSON form: a 5,000-example file has 5,000
    symbols, and lsprotocol objects would double the answer's time (attrs validation of 20,000
    positions, then cattrs turning them back into dicts on the event loop)."""
    return PlainJSON(_symbol(analysis, entry, encoding) for entry in outline_module.outline(analysis))


def _symbol(analysis: Analysis, entry: outline_module.Entry, encoding: Encoding) -> dict:
    symbol = {
        "name": entry.name or "?",  # LSP: a symbol's name must not be empty
        "kind": _KINDS[entry.kind].value,
        "range": range_json(analysis.source, entry.span, encoding),
        "selectionRange": range_json(analysis.source, entry.selection, encoding),
    }
    if entry.detail is not None:
        symbol["detail"] = entry.detail
    if entry.children:
        symbol["children"] = [_symbol(analysis, child, encoding) for child in entry.children]
    return symbol


def folding_ranges(analysis: Analysis) -> list[types.FoldingRange]:
    """One region per fold span covering more than one line (lines need no encoding)."""
    found = []
    source = analysis.source
    for span in outline_module.folds(analysis):
        first, last = source.line_of(span.start), source.line_of(span.end)
        if last > first:
            found.append(types.FoldingRange(start_line=first, end_line=last, kind=types.FoldingRangeKind.Region))
    return found


class Outline:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server
        # uri -> (its analysis, weakly; the encoding; the outline): an editor asks for the outline
        # of one version several times (the outline view, breadcrumbs, sticky scroll), and at
        # 5,000 examples building it is most of the answer. An entry goes with its analysis (a
        # new version, a closed document).
        self._symbols: dict[str, tuple[weakref.ref, Encoding, PlainJSON]] = {}

    def handlers(self) -> Iterable[Handler]:
        return (
            Handler(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, self.symbols),
            Handler(types.TEXT_DOCUMENT_FOLDING_RANGE, self.folding),
        )

    async def symbols(self, params: types.DocumentSymbolParams) -> PlainJSON:
        uri = params.text_document.uri
        outcome = await self.server.analyses.analyse(uri)
        if outcome is None:
            return PlainJSON()
        analysis, encoding = outcome[0], self.server.encoding
        kept = self._symbols.get(uri)
        if kept is not None and kept[0]() is analysis and kept[1] == encoding:
            return kept[2]
        symbols = await self.server.off_loop(document_symbols, analysis, encoding)
        ref = weakref.ref(analysis, lambda dead, uri=uri: self._forget(uri, dead))
        self._symbols[uri] = (ref, encoding, symbols)
        return symbols

    def _forget(self, uri: str, ref: weakref.ref) -> None:
        kept = self._symbols.get(uri)
        if kept is not None and kept[0] is ref:
            del self._symbols[uri]

    async def folding(self, params: types.FoldingRangeParams) -> list[types.FoldingRange]:
        outcome = await self.server.analyses.analyse(params.text_document.uri)
        if outcome is None:
            return []
        return await self.server.off_loop(folding_ranges, outcome[0])
