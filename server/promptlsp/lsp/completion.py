"""Completion: what may be typed at the cursor (:mod:`promptlsp.document.completion` decides),
as LSP items with text edits in the negotiated position encoding.

The candidates come from the document's current text and the names of its last analysis that
could read it (kept per document, since a half-typed file reads as nothing): never an error.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from lsprotocol import types

from ..document import Analysis, Span
from ..document.completion import Candidate, Facts, complete, facts_of
from ..document.source import Encoding
from .features import Handler
from .positions import to_lsp_range, to_offset
from .server import PromptLanguageServer

TRIGGER_CHARACTERS = ["[", ".", '"', "{", "=", " ", "/"]
_KEPT = 64  # documents whose facts are kept (the most recently completed in)
_KINDS = {
    "key": types.CompletionItemKind.Property,
    "table": types.CompletionItemKind.Module,
    "value": types.CompletionItemKind.EnumMember,
    "model": types.CompletionItemKind.Value,
    "provider": types.CompletionItemKind.Folder,
    "variable": types.CompletionItemKind.Variable,
    "snippet": types.CompletionItemKind.Snippet,
}


class Completion:
    def __init__(self, server: PromptLanguageServer) -> None:
        self.server = server
        self._facts: OrderedDict[str, Facts] = OrderedDict()

    def handlers(self) -> Iterable[Handler]:
        options = types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS, resolve_provider=False)
        return (Handler(types.TEXT_DOCUMENT_COMPLETION, self.complete, options),)

    async def complete(self, params: types.CompletionParams) -> types.CompletionList | None:
        uri = params.text_document.uri
        outcome = await self.server.analyses.analyse(uri)
        if outcome is None:
            return None
        listing, facts = await self.server.off_loop(
            self.items, outcome[0], params.position, self._facts.get(uri), self.server.encoding)
        self._facts[uri] = facts
        self._facts.move_to_end(uri)
        while len(self._facts) > _KEPT:
            self._facts.popitem(last=False)
        return listing

    def _client(self) -> tuple[bool, bool]:
        """(snippets supported, markdown documentation supported)."""
        caps = self.server.client_capabilities
        item = caps.text_document.completion.completion_item if (
            caps and caps.text_document and caps.text_document.completion) else None
        if item is None:
            return False, False
        formats = item.documentation_format or []
        return bool(item.snippet_support), types.MarkupKind.Markdown in formats

    def items(self, analysis: Analysis, position: types.Position, previous: Facts | None,
              encoding: Encoding) -> tuple[types.CompletionList, Facts]:
        """The completion list at ``position`` and the document's facts (on the server's executor)."""
        facts = facts_of(analysis, previous)
        snippets, markdown = self._client()
        offset = to_offset(analysis.source, position, encoding)
        found = complete(analysis.text, offset, facts, snippets)
        items = [self._item(c, analysis, found.start, found.end, encoding, markdown, i)
                 for i, c in enumerate(found.candidates)]
        return types.CompletionList(is_incomplete=found.incomplete, items=items), facts

    @staticmethod
    def _item(candidate: Candidate, analysis: Analysis, start: int, end: int, encoding: Encoding,
              markdown: bool, rank: int) -> types.CompletionItem:
        span = Span(candidate.start if candidate.start is not None else start, end)
        docs = None
        if candidate.documentation:
            docs = types.MarkupContent(kind=types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText,
                                       value=candidate.documentation)
        return types.CompletionItem(
            label=candidate.label,
            kind=_KINDS.get(candidate.kind),
            detail=candidate.detail,
            documentation=docs,
            sort_text=f"{rank:04d}",
            filter_text=candidate.filter,
            insert_text_format=types.InsertTextFormat.Snippet if candidate.snippet else types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=to_lsp_range(analysis.source, span, encoding), new_text=candidate.insert),
        )
